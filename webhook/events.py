"""One GitLab webhook delivery, parsed and verified without I/O.

In the manner of gidgethub's ``sansio.py``: the Flask edge hands over the headers and the
raw body, and gets back an :class:`Event`, or a :class:`DeliveryRejected` that carries the
HTTP status to answer. Nothing here touches the network, the database, configuration or
(unless no ``now`` is injected) the clock, so every rule is tested with plain values.

Then :func:`classify` says whether the bot should queue the event (answer 202) or ignore it
(answer 200). Ignored events still get a 2xx: GitLab disables a hook that fails 4 times in
a row, so a delivery we merely do not care about must never look like a failure.

Protocol references, kept beside the code that follows them:

- GitLab webhooks, delivery headers and the secret token:
  https://docs.gitlab.com/user/project/integrations/webhooks/
- GitLab payloads (issue, comment and other events):
  https://docs.gitlab.com/user/project/integrations/webhook_events/
- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), which
  GitLab 19.0 sends when a signing token is configured:
  https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, NoReturn

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from flags.grammar import CHATOPS_PREFIX

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
"""Default body limit. An issue description may hold 1,048,576 characters and an update
carries it up to three times (``object_attributes`` and both sides of ``changes``)."""

REPLAY_TOLERANCE: Final = timedelta(minutes=5)
"""The Standard Webhooks reference libraries' tolerance; ``standardwebhooks`` 1.1.0
hard-codes it, so a configured tolerance may be shorter, never longer."""

ISSUE_KINDS: Final = frozenset({"Issue Hook", "Confidential Issue Hook"})
NOTE_KINDS: Final = frozenset({"Note Hook", "Confidential Note Hook"})
HANDLED_KINDS: Final = ISSUE_KINDS | NOTE_KINDS
"""``X-Gitlab-Event`` values the bot acts on. GitLab names the header after the hook
(``hook_name.singularize.titleize`` in its ``WebHookService``), so confidential issues
and their comments arrive as "Confidential Issue Hook" / "Confidential Note Hook"; a
rollout issue may be confidential, so both are handled."""

SIGNATURE_HEADERS: Final = ("webhook-id", "webhook-timestamp", "webhook-signature")

# Rejection messages: one line each, never echoing a header value back.
MSG_BODY_TOO_LARGE: Final = "body is over the {limit}-byte limit"
MSG_TOKEN_MISSING: Final = "X-Gitlab-Token header is missing"
MSG_TOKEN_INVALID: Final = "X-Gitlab-Token does not match the configured secret"
MSG_SIGNATURE_MISSING: Final = "signing is configured but the delivery lacks {names}"
MSG_TIMESTAMP_MALFORMED: Final = "webhook-timestamp is not a whole number of Unix seconds"
MSG_TIMESTAMP_TOO_OLD: Final = "replay refused: webhook-timestamp is older than the tolerance"
MSG_TIMESTAMP_IN_FUTURE: Final = "replay refused: webhook-timestamp is too far in the future"
MSG_TIMESTAMP_OFF_CLOCK: Final = (
    "replay refused: webhook-timestamp is over 5 minutes from this server's clock"
)
MSG_SIGNATURE_INVALID: Final = "webhook-signature does not match the delivery"
MSG_BODY_NOT_UTF8: Final = "body is not UTF-8"
MSG_BODY_NOT_JSON: Final = "body is not JSON"
MSG_BODY_NOT_OBJECT: Final = "body is JSON but not an object"

# Decision reasons: what the receiver logs and the tests assert against.
QUEUED_DESCRIPTION_CHANGE: Final = "issue description changed"
QUEUED_CHATOPS_COMMAND: Final = "comment runs a chatops command"
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


class DeliveryRejected(Exception):
    """A delivery the receiver must refuse; ``status`` is the HTTP status to answer."""

    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BodyTooLarge(DeliveryRejected):
    status = 413


class Unauthenticated(DeliveryRejected):
    """The delivery cannot be shown to come from our GitLab hook."""

    status = 401


class TokenMissing(Unauthenticated):
    pass


class TokenInvalid(Unauthenticated):
    pass


class SignatureMissing(Unauthenticated):
    pass


class SignatureInvalid(Unauthenticated):
    pass


class ReplayRefused(Unauthenticated):
    """``webhook-timestamp`` outside the window: possibly a captured message sent again.

    Checked before the HMAC, since a valid signature cannot make an old message fresh."""


class MalformedBody(DeliveryRejected):
    status = 400


class BodyNotUtf8(MalformedBody):
    pass


class BodyNotJson(MalformedBody):
    pass


class BodyNotObject(MalformedBody):
    pass


@dataclass(frozen=True, kw_only=True)
class Verification:
    """How to verify deliveries; built once from configuration, never read at import.

    ``secret_token`` has no default on purpose: a receiver that forgot to configure the
    secret must fail loudly, and skipping the check (a local trial) means writing
    ``secret_token=None``. ``now`` is a timezone-aware datetime or Unix seconds; ``None``
    reads the clock on every delivery. Secrets stay out of ``repr`` so logs cannot leak them.
    """

    secret_token: str | None = field(repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = MAX_BODY_BYTES
    replay_tolerance: timedelta = REPLAY_TOLERANCE
    now: datetime | float | None = None

    def __post_init__(self) -> None:
        if self.secret_token == "":
            # An empty secret would accept any delivery carrying an empty header.
            raise ValueError("secret_token is empty; pass None to skip the token check")
        if self.signing_secret is not None:
            try:
                Webhook(self.signing_secret)
            except (EmptyWebhookSecretError, ValueError) as exc:
                raise ValueError("signing_secret is not a whsec_ base64 secret") from exc
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        if not timedelta(0) < self.replay_tolerance <= REPLAY_TOLERANCE:
            raise ValueError("replay_tolerance must be over 0 and at most 5 minutes")
        if isinstance(self.now, datetime) and self.now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")

    def now_seconds(self) -> float:
        if self.now is None:
            return time.time()
        if isinstance(self.now, datetime):
            return self.now.timestamp()
        return float(self.now)


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
        if len(body) > verification.max_body_bytes:
            raise BodyTooLarge(MSG_BODY_TOO_LARGE.format(limit=verification.max_body_bytes))
        if verification.secret_token is not None:
            _check_token(lowered.get("x-gitlab-token"), verification.secret_token)
        if verification.signing_secret is not None:
            _check_signature(lowered, body, verification.signing_secret, verification)
        return cls(
            kind=lowered.get("x-gitlab-event") or None,
            payload=_parse_object(body),
            delivery_key=delivery_key(lowered, body),
            event_uuid=lowered.get("x-gitlab-event-uuid") or None,
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


def _note_refusal(event: Event) -> str | None:
    if not event.is_issue_note:
        return IGNORED_NOT_ON_ISSUE
    if event.is_system_note:
        return IGNORED_SYSTEM_NOTE
    if event.action not in ("create", None):
        # Editing a comment must not run its command again. `action` is absent before
        # GitLab 16.11, when only a new comment triggered the hook.
        return IGNORED_NOTE_EDITED
    if event.chatops_command is None:
        return IGNORED_NOT_A_COMMAND
    return None


def delivery_key(headers: Mapping[str, str], body: bytes) -> str:
    """The inbox's dedup key: ``webhook-id``, else ``Idempotency-Key``, else a body hash.

    GitLab keeps ``Idempotency-Key`` across retries and "Resend Request" (17.4+); 19.0
    adds ``webhook-id`` with the same value, so the key does not change when GitLab is
    upgraded. Older GitLab sends neither; its bodies carry ``updated_at``, so distinct
    events hash apart.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("webhook-id", "idempotency-key"):
        value = lowered.get(name)
        if value:
            return value
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _check_token(given: str | None, secret: str) -> None:
    """GitLab sends the hook's secret token verbatim in ``X-Gitlab-Token``.

    Both sides are hashed to 32 bytes before ``hmac.compare_digest``: it is constant-time
    only for equal lengths, and the hash keeps the secret's length from leaking too.
    """
    if given is None:
        raise TokenMissing(MSG_TOKEN_MISSING)
    given_digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    secret_digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
    if not hmac.compare_digest(given_digest, secret_digest):
        raise TokenInvalid(MSG_TOKEN_INVALID)


def _check_signature(
    headers: dict[str, str], body: bytes, secret: str, verification: Verification
) -> None:
    """Standard Webhooks: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``.

    ``standardwebhooks`` verifies the HMAC, but compares the timestamp with the real
    clock and a fixed 5 minutes. The replay window is checked here first, against the
    injectable ``now`` and with its own message; the library's clock check then stays as
    a second guard (it only fires when an injected ``now`` is far from the real clock).
    """
    missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
    if missing:
        raise SignatureMissing(MSG_SIGNATURE_MISSING.format(names=", ".join(missing)))
    raw_timestamp = headers["webhook-timestamp"]
    # The spec's timestamp is integer seconds; the library's float() would also take
    # "1e9", "nan" or " 17 ", none of which a sender signs.
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit() and len(raw_timestamp) <= 12):
        raise SignatureInvalid(MSG_TIMESTAMP_MALFORMED)
    age = verification.now_seconds() - int(raw_timestamp)
    tolerance = verification.replay_tolerance.total_seconds()
    if age > tolerance:
        raise ReplayRefused(MSG_TIMESTAMP_TOO_OLD)
    if -age > tolerance:
        raise ReplayRefused(MSG_TIMESTAMP_IN_FUTURE)
    text = _decode(body)  # the library signs text, so a non-UTF-8 body cannot be verified
    try:
        Webhook(secret).verify(text, headers, json_parse=False)
    except WebhookVerificationError as exc:
        if str(exc).startswith("Message timestamp"):
            raise ReplayRefused(MSG_TIMESTAMP_OFF_CLOCK) from exc
        raise SignatureInvalid(MSG_SIGNATURE_INVALID) from exc
    except ValueError as exc:  # an entry without "v1,", or bad base64: the library raises
        raise SignatureInvalid(MSG_SIGNATURE_INVALID) from exc


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyNotUtf8(MSG_BODY_NOT_UTF8) from exc


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_object(body: bytes) -> dict[str, Any]:
    text = _decode(body)
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise BodyNotJson(MSG_BODY_NOT_JSON) from exc
    if not isinstance(payload, dict):
        raise BodyNotObject(MSG_BODY_NOT_OBJECT)
    return payload


def _get(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
