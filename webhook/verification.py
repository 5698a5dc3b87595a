"""Is this delivery from our GitLab hook, and is it a JSON object? Without I/O.

In the manner of gidgethub's ``sansio.py``: the Flask edge hands over the headers and the
raw body; :func:`verify` answers with the parsed object, or raises a
:class:`DeliveryRejected` that carries the HTTP status to answer. Nothing here touches
the network, the database, configuration or (unless no ``now`` is injected) the clock.

- GitLab webhooks, delivery headers and the secret token:
  https://docs.gitlab.com/user/project/integrations/webhooks/
- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), which
  GitLab 19.0 sends when a signing token is configured:
  https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, NoReturn

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from flags.errors import RolloutError

MAX_BODY_BYTES: Final = 25 * 1024 * 1024
"""Default body limit: GitLab itself refuses to send webhook JSON over 25 MB
(``Gitlab::Json::LimitedEncoder``). An issue description may hold 1,048,576 characters of
up to 4 bytes, and an update carries it three times (``object_attributes`` and both sides
of ``changes``): about 12 MiB, which a lower limit would refuse, losing the tick."""

MAX_KEY_CHARS: Final = 255
"""The inbox's ``delivery_key`` column; a longer header value is stored as its hash."""

REPLAY_TOLERANCE: Final = timedelta(minutes=5)
"""The Standard Webhooks reference libraries' tolerance; ``standardwebhooks`` 1.1.0
hard-codes it, so a configured tolerance may be shorter, never longer."""

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


class DeliveryRejected(RolloutError):
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


def verify(headers: Mapping[str, str], body: bytes, verification: Verification) -> dict[str, Any]:
    """Verify one delivery and parse its body, or raise a :class:`DeliveryRejected`.

    Checks run cheapest and most fundamental first: size, token, signature, then
    JSON, so an unauthenticated sender learns nothing about how we parse bodies.
    ``headers`` must have lower-case names.
    """
    if len(body) > verification.max_body_bytes:
        raise BodyTooLarge(MSG_BODY_TOO_LARGE.format(limit=verification.max_body_bytes))
    if verification.secret_token is not None:
        _check_token(headers.get("x-gitlab-token"), verification.secret_token)
    if verification.signing_secret is not None:
        _check_signature(dict(headers), body, verification.signing_secret, verification)
    return _parse_object(body)


def token_accepted(given: str | None, verification: Verification) -> bool:
    """Whether a delivery carrying this ``X-Gitlab-Token`` may be read at all: the
    serving layer asks before it buffers a body (`rollout_bot.whole_requests`)."""
    if verification.secret_token is None:
        return True
    try:
        _check_token(given, verification.secret_token)
    except DeliveryRejected:
        return False
    return True


def delivery_key(headers: Mapping[str, str], body: bytes) -> str:
    """The inbox's dedup key: ``webhook-id``, else ``Idempotency-Key``, else a body hash.

    GitLab keeps ``Idempotency-Key`` across retries and "Resend Request" (17.4+); 19.0
    adds ``webhook-id`` with the same value, so the key does not change when GitLab is
    upgraded. Older GitLab sends neither; its bodies carry ``updated_at``, so distinct
    events hash apart. A header value over :data:`MAX_KEY_CHARS` (GitLab's are UUIDs) is
    replaced by its own hash, which still deduplicates a redelivery and fits the column.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("webhook-id", "idempotency-key"):
        value = lowered.get(name)
        if value:
            return value if len(value) <= MAX_KEY_CHARS else _hashed(value.encode())
    return _hashed(body)


def _hashed(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
