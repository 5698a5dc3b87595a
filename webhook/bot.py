"""Processing one delivery: ticked steps run their commands, and the issue hears about it.

Safe to run twice. A worker may die anywhere, and its delivery is then run
again, so every effect is keyed by the delivery:
- a step's outcome (the flag change with it) is remembered under
  `<delivery>:<step>` in the change's own transaction, and replayed, not rerun;
- the comment is recorded before it is posted and its note id after
  (`webhook.comment_once`); it carries `<!-- rollout-bot:delivery=KEY -->`, which
  only a rerun after a crash in between looks for;
- before each GitLab write the delivery's lease is checked (`gitlab_ops.lease`);
- an edit ticking more than `max_steps` steps runs none (one comment says why).
- unticking a refused step flips one box, remembers what became of it, and only
  then comments, saying so (`webhook.untick`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flags import results
from flags.commands import AlreadyRun, Context, execute
from flags.errors import Refusal
from flags.grammar import FeatureCommand
from flags.store import Store
from gitlab_ops import lease
from gitlab_ops.access import AccessPolicy, level_name
from gitlab_ops.chatops import Command, parse
from gitlab_ops.client import GitLab
from templates.step_shapes import CommandShape
from templates.steps import EdgeKind, diff, display_lines, step_index
from templates.tasklist import Task
from webhook import bot_actions, comments, untick
from webhook.comment_ledger import CommentLedger
from webhook.comment_once import comment_once
from webhook.inbox import Delivery
from webhook.payload import Event
from webhook.step_checks import check_comment_scope, step_command
from webhook.step_outcome import (
    AMBIGUOUS_MARKER,
    NO_LONGER_TICKED,
    NOT_A_RECORDED_ISSUE,
    UNCONFIRMED_EDITOR,
    StepOutcome,
)

log = logging.getLogger(__name__)


@dataclass
class Bot:
    store: Store
    context: Callable[[str, str, GitLab], Context]  # (who, source, client) -> Context
    environments: tuple[str, ...]
    gitlab: Callable[[str | None], GitLab]  # event uuid -> a client that sends it back
    access: AccessPolicy
    comment_ledger: CommentLedger
    bot_user_id: Callable[[], int | None] = lambda: None
    flag_of: Callable[[int, int], str | None] = lambda project_id, iid: None
    # delivery key -> the same issue's deliveries that arrived after it (`inbox.later`)
    later_deliveries: Callable[[str], Sequence[Delivery]] = lambda delivery_key: ()
    # (project id, iid, step) -> the command shape recorded for the step; None runs nothing.
    step_shape: Callable[[int, int, str], CommandShape | None] = lambda project_id, iid, step: None
    max_steps: int = 50  # ticked steps one edit may run (ROLLOUT_BOT_MAX_STEPS_PER_EDIT)
    # Answers `/rollout-bot adopt` (`webhook.adopt_command`); None: such comments are ignored.
    adopt: Callable[[Event, GitLab], str] | None = None

    def handle(self, delivery: Delivery) -> str:
        """Process a delivery; returns a short note of what was done (for logs)."""
        event = Event(
            kind=delivery.kind,
            payload=delivery.payload,
            delivery_key=delivery.delivery_key,
            event_uuid=delivery.event_uuid,
        )
        own = self.bot_user_id()
        if own is not None and event.user_id == own:
            return "ignored: the bot's own event"
        client = self.gitlab(delivery.event_uuid)
        if event.is_issue_note and event.adopt_requested:
            return "ignored: adopting is off" if self.adopt is None else self.adopt(event, client)
        if event.is_issue_note:
            return self._comment_command(event, client)
        return self._ticks(event, client)

    # --- ticked boxes ------------------------------------------------------------------

    def _ticks(self, event: Event, client: GitLab) -> str:
        change = event.description_change
        project_id, iid = event.project_id, event.issue_iid
        if change is None or project_id is None or iid is None:
            return "ignored: no description change"
        kinds = (EdgeKind.TICKED, EdgeKind.UNTICKED, EdgeKind.AMBIGUOUS)
        edges = [e for e in diff(*change) if e.kind in kinds]
        if not edges:
            return "ignored: no box changed"
        ticked = sum(1 for e in edges if e.kind != EdgeKind.UNTICKED)
        if ticked > self.max_steps:
            # Bounded work per delivery: nothing runs, no box is touched, one comment.
            body = comments.too_many_steps(
                event.delivery_key, event.username or "unknown", ticked, self.max_steps
            )
            comment_once(client, self.comment_ledger, project_id, iid, event.delivery_key, body)
            return f"refused: {ticked} steps ticked in one edit"
        # Act on the issue as it is now, not as the delivery saw it, through the one
        # lookup: a marker on several tasks names no step, now or in the edit.
        live = step_index(client.issue(project_id, iid).description)
        current = live.unique
        tasks = list(live.tasks)
        outcomes: list[StepOutcome] = []
        for edge in edges:
            task = current.get(edge.marker, edge.task)
            text = _step_text(task, tasks)
            if edge.kind == EdgeKind.UNTICKED:
                outcomes.append(StepOutcome("unticked", edge.marker, text, task.command_line))
                continue
            key = f"{event.delivery_key}:{edge.marker}"
            copies = live.copies.get(edge.marker, ())
            if len(copies) > 1 or edge.kind == EdgeKind.AMBIGUOUS:
                outcomes.append(
                    self._ambiguous(key, edge.marker, copies if len(copies) > 1 else edge.copies)
                )
                continue
            if not event.editor_confirmed:
                reason = UNCONFIRMED_EDITOR.format(
                    user=_user_ref(event.user_id), editor=_user_ref(event.last_edited_by_id)
                )
                refused = StepOutcome(
                    "refused", edge.marker, text, task.command_line, reason=reason
                )
                outcomes.append(self._remember(key, refused))
                continue
            outcomes.append(self._run_step(event, client, key, task, text, current))
        # Untick first, so the comment can say whether that worked.
        later = functools.partial(self.later_deliveries, event.delivery_key)
        unticker = untick.Unticker(client, project_id, iid, later)
        outcomes = untick.settle(outcomes, unticker, self.store, event.delivery_key)
        body = comments.step_comment(event.delivery_key, event.username or "unknown", outcomes)
        comment_once(client, self.comment_ledger, project_id, iid, event.delivery_key, body)
        return ", ".join(f"{o.step}: {o.status}" for o in outcomes)

    def _ambiguous(self, key: str, step: str, copies: tuple[Task, ...]) -> StepOutcome:
        """A box changed on a marker several tasks carry: nothing runs, no box is touched."""
        prior = self._recall(key)
        if prior is not None:
            return StepOutcome.recalled(prior, step=step, text=step, command=None)
        lines = ", ".join(map(str, display_lines(copies)))
        reason = AMBIGUOUS_MARKER.format(count=len(copies), step=step, lines=lines)
        return self._remember(key, StepOutcome("ambiguous", step, step, reason=reason))

    def _run_step(
        self,
        event: Event,
        client: GitLab,
        key: str,
        task: Task,
        text: str,
        current: dict[str, Task],
    ) -> StepOutcome:
        prior = self._recall(key)
        if prior is not None:
            return StepOutcome.recalled(
                prior, step=task.marker or "", text=text, command=task.command_line
            )
        step = task.marker or ""
        live = current.get(step)
        if live is None or not live.checked:
            return StepOutcome("skipped", step, text, task.command_line, reason=NO_LONGER_TICKED)
        command: Command | None = None
        if live.command is not None:
            assert event.project_id is not None and event.issue_iid is not None
            shape = self.step_shape(event.project_id, event.issue_iid, step)
            try:
                command = step_command(live.command, shape, self.environments)
            except Refusal as exc:
                return self._remember(
                    key, StepOutcome("refused", step, text, live.command_line, reason=str(exc))
                )
        refusal = self._access_refusal(event, client, command)
        if refusal is not None:
            return self._remember(
                key, StepOutcome("refused", step, text, live.command_line, reason=refusal)
            )
        if command is None and step in bot_actions.MERGE_REQUEST_STEPS:
            lease.guard()
            return self._remember(key, self._merge_request(event, client, step, text))
        if command is None:
            return self._remember(key, StepOutcome("acknowledged", step, text))
        return self._execute(event, client, key, command, step, text, live.command_line)

    def _execute(
        self,
        event: Event,
        client: GitLab,
        key: str,
        command: Command,
        step: str,
        text: str,
        command_line: str | None,
    ) -> StepOutcome:
        if not isinstance(command, FeatureCommand):
            try:
                assert event.project_id is not None
                answer = bot_actions.answer(client, event.project_id, command)
            except Refusal as exc:
                return self._remember(
                    key, StepOutcome("refused", step, text, command_line, reason=str(exc))
                )
            return StepOutcome("applied", step, text, command_line, answer=answer)
        source = f"{event.project_path or event.project_id}#{event.issue_iid}"
        context = dataclasses.replace(
            self.context(event.username or "unknown", source, client),
            who_id=event.user_id,
            delivery=event.delivery_key,
        )
        try:
            if command.verb in ("get", "list"):
                result = execute(context, command)
                return StepOutcome(
                    "applied", step, text, command_line, card=results.card_json(result)
                )
            result = execute(context, command, run_key=key)
        except AlreadyRun as again:
            return StepOutcome("applied", step, text, command_line, card=again.result)
        except Refusal as exc:
            return self._remember(
                key, StepOutcome("refused", step, text, command_line, reason=str(exc))
            )
        return StepOutcome("applied", step, text, command_line, card=results.card_json(result))

    def _merge_request(self, event: Event, client: GitLab, step: str, text: str) -> StepOutcome:
        assert event.project_id is not None and event.issue_iid is not None
        flag = self.flag_of(event.project_id, event.issue_iid)
        if flag is None:
            return StepOutcome("refused", step, text, reason=NOT_A_RECORDED_ISSUE)
        return bot_actions.open_merge_request(
            client,
            lambda url: self.context(event.username or "unknown", url, client),
            event.project_id,
            event.issue_iid,
            flag,
            step,
            text,
        )

    def _access_refusal(self, event: Event, client: GitLab, command: Command | None) -> str | None:
        required, purpose = self.access.required(command)
        if event.user_id is None or event.project_id is None:
            return "the event names no user, so access cannot be checked"
        level = client.access_level(event.project_id, event.user_id)
        if level >= required:
            return None
        return (
            f"@{event.username} has {level_name(level)} access; {purpose} needs "
            f"{level_name(required)} or higher"
        )

    # --- comment commands --------------------------------------------------------------

    def _comment_command(self, event: Event, client: GitLab) -> str:
        project_id, iid = event.project_id, event.issue_iid
        line = event.chatops_command
        if line is None or project_id is None or iid is None:
            return "ignored: not a command"
        key = f"{event.delivery_key}:comment"
        prior = self._recall(key)
        if prior is not None:
            outcome = StepOutcome.recalled(prior, step="comment", text=line, command=line)
        else:
            outcome = self._run_comment(event, client, key, line)
        body = comments.command_comment(event.delivery_key, event.username or "unknown", outcome)
        comment_once(client, self.comment_ledger, project_id, iid, event.delivery_key, body)
        return f"comment: {outcome.status}"

    def _run_comment(self, event: Event, client: GitLab, key: str, line: str) -> StepOutcome:
        command_line = line.strip().strip("`").strip()
        try:
            command = parse(command_line, self.environments)
            assert event.project_id is not None and event.issue_iid is not None
            check_comment_scope(command, self.flag_of(event.project_id, event.issue_iid))
        except Refusal as exc:
            return self._remember(
                key, StepOutcome("refused", "comment", line, command_line, reason=str(exc))
            )
        refusal = self._access_refusal(event, client, command)
        if refusal is not None:
            return self._remember(
                key, StepOutcome("refused", "comment", line, command_line, reason=refusal)
            )
        return self._execute(event, client, key, command, "comment", line, command_line)

    # --- effects, each safe to repeat --------------------------------------------------

    def _recall(self, key: str) -> Any | None:
        return self.store.recall(key)

    def _remember(self, key: str, outcome: StepOutcome) -> StepOutcome:
        self.store.remember(key, outcome.to_json())
        return outcome


def _step_text(task: Task, tasks: list[Task]) -> str:
    """A command item is named by its step (the parent item); other items by their text."""
    parent = task.parent
    if task.command_line is not None and parent is not None and task.text.startswith("`"):
        if 0 <= parent < len(tasks):
            return _clean(tasks[parent].text)
    return _clean(task.text)


def _clean(text: str) -> str:
    return text.strip() or "(a step)"


def _user_ref(user_id: int | None) -> str:
    return "no user" if user_id is None else f"user {user_id}"
