"""One verified GitLab delivery and what its payload says, read defensively.

The payload comes from outside: every accessor gives ``None`` for a missing or oddly
typed field, never an exception. Payload fields:
https://docs.gitlab.com/user/project/integrations/webhook_events/
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from flags.grammar import CHATOPS_PREFIX
from webhook.verification import DeliveryRejected, Verification, delivery_key, verify

ADOPT_COMMAND: Final = "/rollout-bot adopt"
"""The comment that asks the bot to adopt the issue it is on."""
MAX_ID: Final = 2**63 - 1
"""GitLab's ids are PostgreSQL ``bigint`` (and so are our columns holding them); a larger
number names nothing GitLab has, and SQLite and the drivers cannot bind it, so a
delivery carrying one is refused as a broken body (400)."""

ID_FIELDS: Final = (
    ("project", "id"),
    ("project_id",),
    ("user", "id"),
    ("object_attributes", "iid"),
    ("issue", "iid"),
    ("object_attributes", "last_edited_by_id"),
    ("changes", "last_edited_by_id", "current"),
)
"""The ids the bot reads from a payload: each must fit in 64 bits."""

MSG_ID_OUT_OF_RANGE: Final = "{field} is outside the 64-bit range of GitLab's ids"

MAX_EVENT_UUID_CHARS: Final = 64
"""The inbox's ``event_uuid`` column; GitLab sends a 36-character UUID, so a longer
``X-Gitlab-Event-UUID`` is not GitLab's and is dropped."""


@dataclass(frozen=True)
class Event:
    """A verified delivery. Accessors read the payload defensively: it comes from outside,
    so a missing or oddly typed field gives ``None``, never an exception.

    Frozen so the fields cannot be rebound; do not mutate ``payload`` either.
    """

    kind: str | None
    """``X-Gitlab-Event``, e.g. "Issue Hook"; ``None`` when absent."""
    payload: dict[str, Any]
    delivery_key: str
    """The inbox's dedup key; see :func:`delivery_key`."""
    event_uuid: str | None = None
    webhook_uuid: str | None = None
    instance: str | None = None

    @classmethod
    def from_http(
        cls, headers: Mapping[str, str], body: bytes, *, verification: Verification
    ) -> Event:
        """Verify and parse one delivery, or raise a :class:`DeliveryRejected`.

        Checks run cheapest and most fundamental first: size, token, signature, then
        JSON, so an unauthenticated sender learns nothing about how we parse bodies.
        ``headers`` may use any case. Werkzeug's ``Headers`` is not a ``Mapping``:
        pass ``dict(request.headers)``.
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        payload = verify(lowered, body, verification)
        for path in ID_FIELDS:
            value = _get(payload, *path)
            if isinstance(value, int) and not isinstance(value, bool) and _int(value) is None:
                raise DeliveryRejected(MSG_ID_OUT_OF_RANGE.format(field=".".join(path)))
        return cls(
            kind=lowered.get("x-gitlab-event") or None,
            payload=payload,
            delivery_key=delivery_key(lowered, body),
            event_uuid=_bounded(lowered.get("x-gitlab-event-uuid"), MAX_EVENT_UUID_CHARS),
            webhook_uuid=lowered.get("x-gitlab-webhook-uuid") or None,
            instance=lowered.get("x-gitlab-instance") or None,
        )

    @property
    def object_kind(self) -> str | None:
        return _str(self.payload.get("object_kind"))

    @property
    def project_id(self) -> int | None:
        """``project.id``; notes also carry a top-level ``project_id``."""
        project_id = _int(_get(self.payload, "project", "id"))
        if project_id is None:
            project_id = _int(self.payload.get("project_id"))
        return project_id

    @property
    def project_path(self) -> str | None:
        return _str(_get(self.payload, "project", "path_with_namespace"))

    @property
    def user_id(self) -> int | None:
        """Who caused the event (for an issue update: who ticked the box)."""
        return _int(_get(self.payload, "user", "id"))

    @property
    def username(self) -> str | None:
        return _str(_get(self.payload, "user", "username"))

    @property
    def action(self) -> str | None:
        """``object_attributes.action``: open/close/reopen/update for issues,
        create/update for notes (GitLab 16.11+)."""
        return _str(_get(self.payload, "object_attributes", "action"))

    @property
    def issue_iid(self) -> int | None:
        if self.object_kind == "issue":
            return _int(_get(self.payload, "object_attributes", "iid"))
        if self.is_issue_note:
            return _int(_get(self.payload, "issue", "iid"))
        return None

    @property
    def description_change(self) -> tuple[str, str] | None:
        """``(previous, current)`` from ``changes.description``; GitLab's ``null`` (no
        description) reads as ``""``. ``None`` when the event does not change it."""
        change = _get(self.payload, "changes", "description")
        if not isinstance(change, Mapping):
            return None
        previous, current = change.get("previous"), change.get("current")
        if not all(side is None or isinstance(side, str) for side in (previous, current)):
            return None
        if previous is None and current is None:
            return None
        return previous or "", current or ""

    @property
    def last_edited_by_id(self) -> int | None:
        """Who made the description edit: ``changes.last_edited_by_id.current`` when the
        editor changed with this edit, else ``object_attributes.last_edited_by_id``."""
        changed = _int(_get(self.payload, "changes", "last_edited_by_id", "current"))
        if changed is not None:
            return changed
        return _int(_get(self.payload, "object_attributes", "last_edited_by_id"))

    @property
    def editor_confirmed(self) -> bool:
        """The event's ``user`` is the one who made the edit it reports.

        A tick runs as the person who ticked; when the payload's two accounts of who that
        was disagree (or one is missing), nobody's access can be checked for it.
        """
        return self.user_id is not None and self.last_edited_by_id == self.user_id

    @property
    def is_issue_update(self) -> bool:
        return self.object_kind == "issue" and self.action == "update"

    @property
    def is_issue_note(self) -> bool:
        return (
            self.object_kind == "note"
            and _get(self.payload, "object_attributes", "noteable_type") == "Issue"
        )

    @property
    def is_system_note(self) -> bool:
        return self.object_kind == "note" and (
            _get(self.payload, "object_attributes", "system") is True
        )

    @property
    def note_body(self) -> str | None:
        """The text of a comment on an issue; ``None`` for anything else."""
        if not self.is_issue_note:
            return None
        return _str(_get(self.payload, "object_attributes", "note"))

    @property
    def chatops_command(self) -> str | None:
        """The first line of an issue comment when it is a ``/chatops run`` command.

        The prefix is the grammar's own (``flags.grammar.CHATOPS_PREFIX``), and backticks
        around the line are allowed as the grammar allows them, so what is queued here is
        what the worker can parse.
        """
        body = self.note_body
        if body is None:
            return None
        first_line = body.split("\n", 1)[0].strip()
        if not CHATOPS_PREFIX.match(first_line.strip("`").strip()):
            return None
        return first_line

    @property
    def adopt_requested(self) -> bool:
        """An issue comment whose first line is `ADOPT_COMMAND` (backticks allowed, any case)."""
        body = self.note_body
        if body is None:
            return False
        first_line = body.split("\n", 1)[0].strip().strip("`").strip()
        return " ".join(first_line.split()).lower() == ADOPT_COMMAND


def _get(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -MAX_ID - 1 <= value <= MAX_ID:
        return value
    return None


def _bounded(value: str | None, limit: int) -> str | None:
    return value if value and len(value) <= limit else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
