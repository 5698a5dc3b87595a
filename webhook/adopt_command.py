"""`/rollout-bot adopt` in a comment: make the issue it is on a control panel.

The comment's author needs Developer access or more (adopting decides which lines may
later change a flag); anyone else gets the usual one-line refusal. The adoption itself
is `gitlab_ops.adoption`'s; this answers once per delivery (`webhook.comment_once`),
and a rerun of the same delivery answers again from what the adoption recorded. An
issue the bot already knows gets a short "already adopted" answer and nothing else.
The flag's state note is queued at once, so an adopted issue shows the state as one
the bot opened does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from flags.definitions import Registry
from flags.errors import Refusal
from gitlab_ops import issue_updates, lease
from gitlab_ops.access import DEVELOPER, level_name
from gitlab_ops.adoption import adopt_issue
from gitlab_ops.client import GitLab
from gitlab_ops.errors import GitLabError, TransientGitLabError
from templates.adoption_report import adoption_comment, already_adopted
from webhook.comment_ledger import CommentLedger
from webhook.comment_once import comment_once
from webhook.comments import delivery_marker
from webhook.payload import Event

# User-facing, one line each.
NEEDS_DEVELOPER = (
    "@{user} has {level} access; adopting an issue needs {needed} or higher. Nothing was changed."
)
REFUSED = ":no_entry: @{user}, `/rollout-bot adopt` was refused: {reason}. Nothing was changed."


@dataclass(frozen=True)
class AdoptCommand:
    """The handler the bot calls for a `/rollout-bot adopt` comment."""

    engine: Engine
    registry: Registry
    environments: Sequence[str]
    comment_ledger: CommentLedger

    def __call__(self, event: Event, client: GitLab) -> str:
        project_id, iid, user_id = event.project_id, event.issue_iid, event.user_id
        if project_id is None or iid is None or user_id is None:
            return "ignored: the comment names no issue or no user"
        user = event.username or "unknown"
        marker = delivery_marker(event.delivery_key)
        flag: str | None = None
        level = client.access_level(project_id, user_id)
        if level < DEVELOPER:
            reason = NEEDS_DEVELOPER.format(
                user=user, level=level_name(level), needed=level_name(DEVELOPER)
            )
            body, note = f"{marker}\n:no_entry: {reason}\n", "refused: access"
        else:
            try:
                adopted = adopt_issue(
                    self.engine,
                    client,
                    project_id,
                    iid,
                    registry=self.registry,
                    environments=self.environments,
                    who=f"@{user}",
                    request_key=event.delivery_key,
                    before_write=lease.guard,
                )
            except TransientGitLabError:
                raise  # the worker retries the delivery
            except (Refusal, GitLabError) as exc:  # GitLab refusing the edit for good, too
                reason = str(exc).rstrip(".")
                body, note = f"{marker}\n{REFUSED.format(user=user, reason=reason)}\n", "refused"
            else:
                if adopted.report is None:
                    body, note = already_adopted(marker, f"@{user}", adopted.flag), "already"
                else:
                    body = adoption_comment(marker, f"@{user}", adopted.report)
                    note, flag = "adopted", adopted.flag
        lease.guard()
        comment_once(client, self.comment_ledger, project_id, iid, event.delivery_key, body)
        if flag is not None:
            issue_updates.enqueue(self.engine, project_id, iid, flag, event_uuid=event.event_uuid)
        return f"adopt: {note}"
