"""Queue a verified delivery for the worker (answer 202) or ignore it (answer 200).

Ignored events still get a 2xx: GitLab disables a hook that fails 4 times in a row,
so a delivery we merely do not care about must never look like a failure. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

from webhook.payload import Event

ISSUE_KINDS: Final = frozenset({"Issue Hook", "Confidential Issue Hook"})
NOTE_KINDS: Final = frozenset({"Note Hook", "Confidential Note Hook"})
HANDLED_KINDS: Final = ISSUE_KINDS | NOTE_KINDS
"""``X-Gitlab-Event`` values the bot acts on. GitLab names the header after the hook
(``hook_name.singularize.titleize`` in its ``WebHookService``), so confidential issues
and their comments arrive as "Confidential Issue Hook" / "Confidential Note Hook"; a
rollout issue may be confidential, so both are handled."""

# Decision reasons: what the receiver logs and the tests assert against.
QUEUED_DESCRIPTION_CHANGE: Final = "issue description changed"
QUEUED_CHATOPS_COMMAND: Final = "comment runs a chatops command"
QUEUED_ADOPT_COMMAND: Final = "comment asks to adopt the issue"
IGNORED_UNHANDLED_KIND: Final = "event kind not handled"
IGNORED_OTHER_PROJECT: Final = "project not watched"
IGNORED_NO_ACTOR: Final = "event names no user"
IGNORED_OWN_EVENT: Final = "event caused by the bot itself"
IGNORED_NOT_AN_ISSUE: Final = "issue event is not about an issue"
IGNORED_NOT_AN_UPDATE: Final = "issue event is not an update"
IGNORED_NO_DESCRIPTION_CHANGE: Final = "issue update does not change the description"
IGNORED_NOT_ON_ISSUE: Final = "comment is not on an issue"
IGNORED_SYSTEM_NOTE: Final = "comment is a system note"
IGNORED_NOTE_EDITED: Final = "comment was edited, not created"
IGNORED_NOT_A_COMMAND: Final = "comment's first line is not /chatops run"
IGNORED_NO_ISSUE: Final = "event names no issue iid"
IGNORED_NOT_ROLLOUT_ISSUE: Final = "issue is not a rollout issue"


@dataclass(frozen=True)
class Decision:
    """Queue the delivery (answer 202) or ignore it (answer 200), and why."""

    queue: bool
    reason: str

    @property
    def status(self) -> int:
        return 202 if self.queue else 200


def classify(
    event: Event,
    *,
    project_ids: Collection[int] | None,
    bot_user_id: int | None,
    is_rollout_issue: Callable[[int, int], bool] | None = None,
) -> Decision:
    """Decide whether the worker should see this event; never raises on odd payloads.

    ``project_ids`` ``None`` watches every project. Events the bot caused itself (its
    comments, its unticking of a refused step) are ignored so it cannot loop on them.
    ``is_rollout_issue(project_id, issue_iid)`` is asked last, only for an event that
    would otherwise be queued, since it may cost a database lookup.
    """
    if event.kind not in HANDLED_KINDS:
        return Decision(False, IGNORED_UNHANDLED_KIND)
    project_id = event.project_id
    if project_ids is not None and project_id not in project_ids:
        return Decision(False, IGNORED_OTHER_PROJECT)
    user_id = event.user_id
    if user_id is None:
        return Decision(False, IGNORED_NO_ACTOR)  # no actor, no access check possible
    if bot_user_id is not None and user_id == bot_user_id:
        return Decision(False, IGNORED_OWN_EVENT)

    if event.kind in ISSUE_KINDS:
        reason, queued = _issue_refusal(event), QUEUED_DESCRIPTION_CHANGE
    elif event.adopt_requested:
        # Asked on an issue that is not a rollout issue yet: that is the point.
        reason = _note_refusal(event, command_needed=False)
        if reason is None and (event.project_id is None or event.issue_iid is None):
            reason = IGNORED_NO_ISSUE
        return Decision(reason is None, reason or QUEUED_ADOPT_COMMAND)
    else:
        reason, queued = _note_refusal(event), QUEUED_CHATOPS_COMMAND
    if reason is not None:
        return Decision(False, reason)

    issue_iid = event.issue_iid
    if project_id is None or issue_iid is None:
        return Decision(False, IGNORED_NO_ISSUE)
    if is_rollout_issue is not None and not is_rollout_issue(project_id, issue_iid):
        return Decision(False, IGNORED_NOT_ROLLOUT_ISSUE)
    return Decision(True, queued)


def _issue_refusal(event: Event) -> str | None:
    """Only a description edit can tick or untick a step."""
    if event.object_kind != "issue":
        return IGNORED_NOT_AN_ISSUE
    if not event.is_issue_update:
        return IGNORED_NOT_AN_UPDATE
    change = event.description_change
    if change is None or change[0] == change[1]:
        return IGNORED_NO_DESCRIPTION_CHANGE
    return None


def _note_refusal(event: Event, *, command_needed: bool = True) -> str | None:
    if not event.is_issue_note:
        return IGNORED_NOT_ON_ISSUE
    if event.is_system_note:
        return IGNORED_SYSTEM_NOTE
    if event.action not in ("create", None):
        # Editing a comment must not run its command again. `action` is absent before
        # GitLab 16.11, when only a new comment triggered the hook.
        return IGNORED_NOTE_EDITED
    if command_needed and event.chatops_command is None:
        return IGNORED_NOT_A_COMMAND
    return None
