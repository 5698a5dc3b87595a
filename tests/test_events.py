"""Verifying, parsing and classifying deliveries (webhook.verification, .payload, .classify).

The deliveries are this project's fixtures (tests/fixtures/gitlab/webhooks/, shaped like
GitLab's documented payloads and headers). The checks that should hold for any GitLab
delivery are functions taking a ``Deliveries``, so that ./scripts/conformance runs them on
GitLab's documented examples as well (conformance/test_gitlab_webhooks.py).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from tests.fixtures.gitlab import WEBHOOKS, Deliveries
from webhook import classify as classify_module
from webhook import verification
from webhook.classify import (
    HANDLED_KINDS,
    IGNORED_NO_ACTOR,
    IGNORED_NO_DESCRIPTION_CHANGE,
    IGNORED_NO_ISSUE,
    IGNORED_NOT_A_COMMAND,
    IGNORED_NOT_AN_ISSUE,
    IGNORED_NOT_AN_UPDATE,
    IGNORED_NOT_ON_ISSUE,
    IGNORED_NOT_ROLLOUT_ISSUE,
    IGNORED_NOTE_EDITED,
    IGNORED_OTHER_PROJECT,
    IGNORED_OWN_EVENT,
    IGNORED_SYSTEM_NOTE,
    IGNORED_UNHANDLED_KIND,
    QUEUED_ADOPT_COMMAND,
    QUEUED_CHATOPS_COMMAND,
    QUEUED_DESCRIPTION_CHANGE,
    Decision,
    classify,
)
from webhook.payload import Event
from webhook.verification import (
    MAX_BODY_BYTES,
    MSG_BODY_NOT_JSON,
    MSG_BODY_NOT_OBJECT,
    MSG_BODY_NOT_UTF8,
    MSG_BODY_TOO_LARGE,
    MSG_SIGNATURE_INVALID,
    MSG_SIGNATURE_MISSING,
    MSG_TIMESTAMP_IN_FUTURE,
    MSG_TIMESTAMP_MALFORMED,
    MSG_TIMESTAMP_OFF_CLOCK,
    MSG_TIMESTAMP_TOO_OLD,
    MSG_TOKEN_INVALID,
    MSG_TOKEN_MISSING,
    BodyNotJson,
    BodyNotObject,
    BodyNotUtf8,
    BodyTooLarge,
    DeliveryRejected,
    ReplayRefused,
    SignatureInvalid,
    SignatureMissing,
    TokenInvalid,
    TokenMissing,
    Verification,
)

# File names every Deliveries has (ours and GitLab's documented examples alike).
OPENED = "issue_hook.json"
TICKED_NAME = "issue_hook_task_ticked.json"
NOTE = "note_hook_issue.json"
MERGE_REQUEST = "merge_request_hook.json"
PIPELINE = "pipeline_hook.json"

TOKEN = WEBHOOKS.token
HEADERS = WEBHOOKS.headers
SIGNING_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
MSG_ID = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"
VERIFY = Verification(secret_token=TOKEN)


def body_of(name: str) -> bytes:
    return WEBHOOKS.body(name)


def payload_of(name: str) -> dict[str, Any]:
    return WEBHOOKS.payload(name)


def headers_for(name: str, **changes: str | None) -> dict[str, str]:
    """Our headers for a fixture; a None value drops that header."""
    return WEBHOOKS.headers_for(name, **changes)


def event_of(
    name: str,
    payload: dict[str, Any] | None = None,
    kind: str | None = None,
    samples: Deliveries = WEBHOOKS,
) -> Event:
    return Event(
        kind=kind or samples.kind_of[name],
        payload=samples.payload(name) if payload is None else payload,
        delivery_key="test",
    )


def rejected(
    headers: dict[str, str], body: bytes, verification: Verification = VERIFY
) -> DeliveryRejected:
    with pytest.raises(DeliveryRejected) as info:
        Event.from_http(headers, body, verification=verification)
    return info.value


# --- a good delivery -------------------------------------------------------------------


def check_accepts_the_delivery(samples: Deliveries) -> None:
    """A ticked box, with every header GitLab sends, is accepted and read as sent."""
    body = samples.body(TICKED_NAME)
    verify = Verification(secret_token=samples.token)
    event = Event.from_http(samples.headers_for(TICKED_NAME), body, verification=verify)
    assert event.kind == "Issue Hook"
    assert event.object_kind == "issue"
    assert event.payload == json.loads(body)
    assert event.delivery_key == samples.headers["Idempotency-Key"]
    assert event.event_uuid == samples.headers["X-Gitlab-Event-UUID"]
    assert event.webhook_uuid == samples.headers["X-Gitlab-Webhook-UUID"]
    assert event.instance == "https://gitlab.com"


def check_accepts_the_payload(samples: Deliveries, name: str) -> None:
    verify = Verification(secret_token=samples.token)
    event = Event.from_http(samples.headers_for(name), samples.body(name), verification=verify)
    assert event.kind == samples.kind_of[name]
    assert event.payload == samples.payload(name)


def test_accepts_the_delivery() -> None:
    check_accepts_the_delivery(WEBHOOKS)


@pytest.mark.parametrize("name", WEBHOOKS.names)
def test_accepts_every_fixture(name: str) -> None:
    check_accepts_the_payload(WEBHOOKS, name)


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_header_names_in_any_case(case: Callable[[str], str]) -> None:
    headers = {case(name): value for name, value in headers_for("issue_hook.json").items()}
    event = Event.from_http(headers, body_of("issue_hook.json"), verification=VERIFY)
    assert event.kind == "Issue Hook"
    assert event.delivery_key == HEADERS["Idempotency-Key"]


def test_optional_headers_absent_read_as_none() -> None:
    headers = {"X-Gitlab-Token": TOKEN}
    event = Event.from_http(headers, b"{}", verification=VERIFY)
    assert (event.kind, event.event_uuid, event.webhook_uuid, event.instance) == (None,) * 4


def test_token_check_skipped_only_when_secret_is_none() -> None:
    trial = Verification(secret_token=None)
    headers = headers_for("issue_hook.json", X_Gitlab_Token=None)
    assert Event.from_http(headers, body_of("issue_hook.json"), verification=trial).kind
    with pytest.raises(TypeError):
        Verification()  # type: ignore[call-arg]  # forgetting the secret is an error


# --- rejections, each with its status and message --------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "verification", "error", "status", "message"),
    [
        pytest.param(
            headers_for("issue_hook.json"),
            b"{}" + b" " * 9,
            Verification(secret_token=TOKEN, max_body_bytes=10),
            BodyTooLarge,
            413,
            MSG_BODY_TOO_LARGE.format(limit=10),
            id="too-large",
        ),
        pytest.param(
            headers_for("issue_hook.json", X_Gitlab_Token=None),
            b"x" * 11,  # too large and unauthenticated: size is checked first
            Verification(secret_token=TOKEN, max_body_bytes=10),
            BodyTooLarge,
            413,
            MSG_BODY_TOO_LARGE.format(limit=10),
            id="size-before-token",
        ),
        pytest.param(
            headers_for("issue_hook.json", X_Gitlab_Token=None),
            body_of("issue_hook.json"),
            VERIFY,
            TokenMissing,
            401,
            MSG_TOKEN_MISSING,
            id="token-missing",
        ),
        pytest.param(
            headers_for("issue_hook.json", X_Gitlab_Token="not-the-token"),
            body_of("issue_hook.json"),
            VERIFY,
            TokenInvalid,
            401,
            MSG_TOKEN_INVALID,
            id="token-wrong",
        ),
        pytest.param(
            headers_for("issue_hook.json", X_Gitlab_Token="wrong"),
            b"not json",  # wrong token and a bad body: the token is checked first
            VERIFY,
            TokenInvalid,
            401,
            MSG_TOKEN_INVALID,
            id="token-before-json",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            b'{"object_kind": "issue"',
            VERIFY,
            BodyNotJson,
            400,
            MSG_BODY_NOT_JSON,
            id="not-json",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            b"",
            VERIFY,
            BodyNotJson,
            400,
            MSG_BODY_NOT_JSON,
            id="empty-body",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            b'{"percentage": NaN}',
            VERIFY,
            BodyNotJson,
            400,
            MSG_BODY_NOT_JSON,
            id="nan-is-not-json",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            b"[" * 100_000 + b"]" * 100_000,
            VERIFY,
            BodyNotJson,
            400,
            MSG_BODY_NOT_JSON,
            id="absurdly-deep",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            b'[{"object_kind": "issue"}]',
            VERIFY,
            BodyNotObject,
            400,
            MSG_BODY_NOT_OBJECT,
            id="array",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            b'"issue"',
            VERIFY,
            BodyNotObject,
            400,
            MSG_BODY_NOT_OBJECT,
            id="string",
        ),
        pytest.param(
            headers_for("issue_hook.json"),
            '{"note": "café"}'.encode("latin-1"),
            VERIFY,
            BodyNotUtf8,
            400,
            MSG_BODY_NOT_UTF8,
            id="latin-1",
        ),
    ],
)
def test_rejections(
    headers: dict[str, str],
    body: bytes,
    verification: Verification,
    error: type[DeliveryRejected],
    status: int,
    message: str,
) -> None:
    exc = rejected(headers, body, verification)
    assert type(exc) is error
    assert (exc.status, exc.message, str(exc)) == (status, message, message)
    assert "\n" not in exc.message
    assert TOKEN not in exc.message


def test_default_body_limit_is_25_mib() -> None:
    assert VERIFY.max_body_bytes == MAX_BODY_BYTES == 25 * 1024 * 1024
    at_limit = b"{}" + b" " * (MAX_BODY_BYTES - 2)
    assert Event.from_http(headers_for("issue_hook.json"), at_limit, verification=VERIFY)
    exc = rejected(headers_for("issue_hook.json"), at_limit + b" ")
    assert exc.status == 413


@pytest.mark.parametrize(
    "given_token",
    [
        "",
        "m",
        TOKEN[:-1],
        TOKEN + " ",
        TOKEN + "x",
        TOKEN * 10,
        TOKEN.upper(),
        "\x00" * len(TOKEN),
        "tökén",
        "\udcff",  # a lone surrogate, as surrogateescape-decoding servers produce
    ],
)
def test_token_of_any_length_or_content_is_refused(given_token: str) -> None:
    headers = headers_for("issue_hook.json", X_Gitlab_Token=given_token)
    exc = rejected(headers, body_of("issue_hook.json"))
    assert type(exc) is TokenInvalid
    assert exc.status == 401


@pytest.mark.parametrize("given_token", ["short", TOKEN, TOKEN * 50])
def test_token_is_compared_in_constant_time_on_equal_length_bytes(
    given_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    headers = headers_for("issue_hook.json", X_Gitlab_Token=given_token)
    try:
        Event.from_http(headers, body_of("issue_hook.json"), verification=VERIFY)
    except TokenInvalid:
        pass
    [(a, b)] = calls
    assert isinstance(a, bytes) and isinstance(b, bytes)
    assert len(a) == len(b)  # the secret's length does not leak through the comparison


# --- Verification config -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret_token": ""},
        {"secret_token": TOKEN, "signing_secret": ""},
        {"secret_token": TOKEN, "signing_secret": "whsec_"},
        {"secret_token": TOKEN, "signing_secret": "whsec_not base64 ü"},
        {"secret_token": TOKEN, "max_body_bytes": 0},
        {"secret_token": TOKEN, "replay_tolerance": timedelta(0)},
        {"secret_token": TOKEN, "replay_tolerance": timedelta(minutes=6)},
        {"secret_token": TOKEN, "now": datetime(2030, 1, 1)},  # naive
    ],
)
def test_verification_refuses_bad_config(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Verification(**kwargs)


def test_verification_repr_hides_secrets() -> None:
    verification = Verification(secret_token=TOKEN, signing_secret=SIGNING_SECRET)
    assert TOKEN not in repr(verification)
    assert SIGNING_SECRET not in repr(verification)


def test_now_as_datetime_or_seconds() -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    assert Verification(secret_token=None, now=moment).now_seconds() == moment.timestamp()
    assert Verification(secret_token=None, now=1_700_000_000).now_seconds() == 1_700_000_000
    before = time.time()
    assert before <= Verification(secret_token=None).now_seconds() <= time.time()


# --- Standard Webhooks signatures ----------------------------------------------------------


@pytest.fixture
def clock() -> int:
    """The real clock, read once: the library checks the real clock as well."""
    return int(time.time())


def signed(
    verification_now: float,
    *,
    body: bytes | None = None,
    timestamp: int | None = None,
    msg_id: str = MSG_ID,
    secret: str = SIGNING_SECRET,
) -> tuple[dict[str, str], bytes, Verification]:
    body = body_of("issue_hook_task_ticked.json") if body is None else body
    timestamp = int(verification_now) if timestamp is None else timestamp
    at = datetime.fromtimestamp(timestamp, tz=UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    headers = {
        **headers_for("issue_hook_task_ticked.json"),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    verification = Verification(
        secret_token=TOKEN, signing_secret=SIGNING_SECRET, now=verification_now
    )
    return headers, body, verification


@pytest.mark.parametrize("offset", [0, -240, 240])
def test_signed_delivery_accepted(clock: int, offset: int) -> None:
    headers, body, verification = signed(clock, timestamp=clock + offset)
    event = Event.from_http(headers, body, verification=verification)
    assert event.delivery_key == MSG_ID
    assert event.is_issue_update


def test_signed_delivery_accepted_with_real_clock_and_capitalised_names(clock: int) -> None:
    headers, body, verification = signed(clock)
    headers = {name.title(): value for name, value in headers.items()}
    assert "Webhook-Signature" in headers
    event = Event.from_http(headers, body, verification=replace(verification, now=None))
    assert event.kind == "Issue Hook"


def test_secret_without_whsec_prefix_is_the_same_secret(clock: int) -> None:
    headers, body, verification = signed(clock)
    bare = replace(verification, signing_secret=SIGNING_SECRET.removeprefix("whsec_"))
    assert Event.from_http(headers, body, verification=bare).delivery_key == MSG_ID


def test_one_matching_signature_among_several_is_enough(clock: int) -> None:
    headers, body, verification = signed(clock)
    other = base64.b64encode(b"\x00" * 32).decode()
    headers["webhook-signature"] = f"v1,{other} {headers['webhook-signature']}"
    assert Event.from_http(headers, body, verification=verification)


def _flip_last_signature_byte(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature.split(",", 1)[1]))
    raw[-1] ^= 1
    return "v1," + base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b.replace(b"[x]", b"[ ]")), id="body"),
        pytest.param(lambda h, b: (h, b + b"\n"), id="body-whitespace"),
        pytest.param(
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 1)}, b),
            id="timestamp",
        ),
        pytest.param(lambda h, b: ({**h, "webhook-id": "another-id"}, b), id="msg-id"),
        pytest.param(
            lambda h, b: (
                {**h, "webhook-signature": _flip_last_signature_byte(h["webhook-signature"])},
                b,
            ),
            id="signature",
        ),
        pytest.param(
            lambda h, b: (
                {**h, "webhook-signature": h["webhook-signature"].replace("v1", "v2")},
                b,
            ),
            id="unknown-version",
        ),
        pytest.param(lambda h, b: ({**h, "webhook-signature": "v1"}, b), id="no-comma"),
        pytest.param(lambda h, b: ({**h, "webhook-signature": "v1,!!!"}, b), id="bad-base64"),
        pytest.param(
            lambda h, b: ({**h, "webhook-signature": "v1,a,b " + h["webhook-signature"]}, b),
            id="two-commas",
        ),
    ],
)
def test_tampered_signed_delivery_refused(
    clock: int, tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]
) -> None:
    headers, body, verification = signed(clock)
    headers, body = tamper(headers, body)
    exc = rejected(headers, body, verification)
    assert type(exc) is SignatureInvalid
    assert (exc.status, exc.message) == (401, MSG_SIGNATURE_INVALID)


def test_signature_with_another_secret_refused(clock: int) -> None:
    other = "whsec_" + base64.b64encode(b"\x07" * 32).decode()
    headers, body, verification = signed(clock, secret=other)
    exc = rejected(headers, body, verification)
    assert (type(exc), exc.message) == (SignatureInvalid, MSG_SIGNATURE_INVALID)


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (-301, MSG_TIMESTAMP_TOO_OLD),
        (-3600, MSG_TIMESTAMP_TOO_OLD),
        (301, MSG_TIMESTAMP_IN_FUTURE),
        (86_400, MSG_TIMESTAMP_IN_FUTURE),
    ],
)
def test_old_and_future_timestamps_refused_as_replays(
    clock: int, offset: int, message: str
) -> None:
    headers, body, verification = signed(clock, timestamp=clock + offset)
    exc = rejected(headers, body, verification)
    assert type(exc) is ReplayRefused
    assert (exc.status, exc.message) == (401, message)


FAR_FROM_NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (-301, MSG_TIMESTAMP_TOO_OLD),
        (301, MSG_TIMESTAMP_IN_FUTURE),
        # Within our window, so it reaches the library, which checks the real clock too:
        (-300, MSG_TIMESTAMP_OFF_CLOCK),
        (300, MSG_TIMESTAMP_OFF_CLOCK),
    ],
)
def test_replay_window_follows_the_injected_now(offset: int, message: str) -> None:
    headers, body, verification = signed(FAR_FROM_NOW, timestamp=int(FAR_FROM_NOW) + offset)
    exc = rejected(headers, body, verification)
    assert (type(exc), exc.message) == (ReplayRefused, message)


def test_shorter_replay_tolerance(clock: int) -> None:
    headers, body, verification = signed(clock, timestamp=clock - 90)
    short = replace(verification, replay_tolerance=timedelta(minutes=1))
    assert rejected(headers, body, short).message == MSG_TIMESTAMP_TOO_OLD


@pytest.mark.parametrize(
    "dropped",
    [
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
        ("webhook-id",),
        ("webhook-timestamp",),
        ("webhook-signature",),
    ],
)
def test_unsigned_delivery_refused_when_signing_is_configured(
    clock: int, dropped: tuple[str, ...]
) -> None:
    headers, body, verification = signed(clock)
    for name in dropped:
        del headers[name]
    exc = rejected(headers, body, verification)
    assert type(exc) is SignatureMissing
    assert exc.status == 401
    assert exc.message == MSG_SIGNATURE_MISSING.format(names=", ".join(dropped))


def test_empty_signature_header_counts_as_missing(clock: int) -> None:
    headers, body, verification = signed(clock)
    headers["webhook-signature"] = ""
    exc = rejected(headers, body, verification)
    assert exc.message == MSG_SIGNATURE_MISSING.format(names="webhook-signature")


@pytest.mark.parametrize("raw", ["abc", "1.7e9", "-1", " 1700000000", "nan", "١٧٠٠٠٠٠٠٠٠"])
def test_malformed_timestamp_refused(clock: int, raw: str) -> None:
    headers, body, verification = signed(clock)
    headers["webhook-timestamp"] = raw
    exc = rejected(headers, body, verification)
    assert (type(exc), exc.status, exc.message) == (SignatureInvalid, 401, MSG_TIMESTAMP_MALFORMED)


def test_signed_but_wrong_token_refused_on_the_token(clock: int) -> None:
    headers, body, verification = signed(clock)
    headers["X-Gitlab-Token"] = "wrong"
    assert type(rejected(headers, body, verification)) is TokenInvalid


def test_signature_checked_before_json(clock: int) -> None:
    headers, body, verification = signed(clock, body=b"not json")
    assert type(rejected(headers, body, verification)) is BodyNotJson
    headers["webhook-signature"] = _flip_last_signature_byte(headers["webhook-signature"])
    assert type(rejected(headers, body, verification)) is SignatureInvalid


def test_signed_non_utf8_body_is_a_bad_body(clock: int) -> None:
    headers, _, verification = signed(clock, body=b"{}")
    exc = rejected(headers, b'{"x": "\xff"}', verification)
    assert (type(exc), exc.status) == (BodyNotUtf8, 400)


# --- delivery key -----------------------------------------------------------------------


def test_delivery_key_precedence() -> None:
    body = body_of("issue_hook.json")
    both = {**headers_for("issue_hook.json"), "webhook-id": "msg_from_webhook_id"}
    assert Event.from_http(both, body, verification=VERIFY).delivery_key == "msg_from_webhook_id"

    legacy = headers_for("issue_hook.json")
    assert (
        Event.from_http(legacy, body, verification=VERIFY).delivery_key
        == (HEADERS["Idempotency-Key"])
    )

    neither = headers_for("issue_hook.json", Idempotency_Key=None)
    key = Event.from_http(neither, body, verification=VERIFY).delivery_key
    assert key == "sha256:" + hashlib.sha256(body).hexdigest()

    empty = {**headers_for("issue_hook.json"), "webhook-id": ""}
    assert (
        Event.from_http(empty, body, verification=VERIFY).delivery_key
        == (HEADERS["Idempotency-Key"])
    )


def test_delivery_key_reads_header_names_in_any_case() -> None:
    headers = {"Webhook-Id": "msg_a", "IDEMPOTENCY-KEY": "b"}
    assert verification.delivery_key(headers, b"{}") == "msg_a"
    assert verification.delivery_key({"Idempotency-Key": "b"}, b"{}") == "b"


def test_body_hash_key_tells_bodies_apart() -> None:
    headers = headers_for("issue_hook.json", Idempotency_Key=None)
    first = Event.from_http(headers, b'{"a": 1}', verification=VERIFY)
    again = Event.from_http(headers, b'{"a": 1}', verification=VERIFY)
    other = Event.from_http(headers, b'{"a": 2}', verification=VERIFY)
    assert first.delivery_key == again.delivery_key != other.delivery_key


# --- accessors on every fixture ----------------------------------------------------------

TICKED = payload_of(TICKED_NAME)["changes"]["description"]
OPENED_DESCRIPTION = payload_of(OPENED)["object_attributes"]["description"]
FLAG = "product_intelligence_database_event_tracking"
PROJECT = {"project_id": 278964, "project_path": "gitlab-org/gitlab"}
BOT = {"user_id": 13527466, "username": "rollout_bot"}
DRI = {"user_id": 7212547, "username": "nbelokolodov"}
PM = {"user_id": 2537129, "username": "alinamihaila"}
ROLLOUT_ISSUE_IID = 368976
COMMENT = (
    "Enabled on dev, staging and staging-ref. The `database_event_create` events for "
    "`group_stages` show up in the staging collector."
)
ENABLE_NON_PRODUCTION = f"/chatops run feature set {FLAG} true --dev --staging --staging-ref"


def _accessors(object_kind: str, **values: Any) -> dict[str, Any]:
    """What every accessor answers; unnamed ones answer as for an event they do not fit."""
    return {
        "object_kind": object_kind,
        **PROJECT,
        "issue_iid": None,
        "action": None,
        "description_change": None,
        "note_body": None,
        "chatops_command": None,
        "is_issue_update": False,
        "is_issue_note": False,
        "is_system_note": False,
        **values,
    }


def _ticked(**values: Any) -> dict[str, Any]:
    return _accessors(
        "issue",
        **DRI,
        issue_iid=ROLLOUT_ISSUE_IID,
        action="update",
        description_change=(TICKED["previous"], TICKED["current"]),
        is_issue_update=True,
        **values,
    )


def _issue_note(note: str, command: str | None, **who: Any) -> dict[str, Any]:
    return _accessors(
        "note",
        **who,
        issue_iid=ROLLOUT_ISSUE_IID,
        action="create",
        note_body=note,
        chatops_command=command,
        is_issue_note=True,
    )


ACCESSORS = {
    # GitLab reports an opened issue's fields as changed from null: the description too.
    OPENED: _accessors(
        "issue",
        **BOT,
        issue_iid=ROLLOUT_ISSUE_IID,
        action="open",
        description_change=("", OPENED_DESCRIPTION),
    ),
    "issue_hook_relabelled.json": _accessors(
        "issue", **PM, issue_iid=ROLLOUT_ISSUE_IID, action="update", is_issue_update=True
    ),
    TICKED_NAME: _ticked(),
    "confidential_issue_hook_task_ticked.json": _ticked(),
    NOTE: _issue_note(COMMENT, None, **DRI),
    "note_hook_issue_chatops.json": _issue_note(
        f"/chatops run feature get {FLAG}\nChecking before the production step.",
        f"/chatops run feature get {FLAG}",
        **PM,
    ),
    "confidential_note_hook_issue.json": _issue_note(
        ENABLE_NON_PRODUCTION, ENABLE_NON_PRODUCTION, **DRI
    ),
    # Comments elsewhere name no issue, and their text is not a command for the bot.
    "note_hook_merge_request.json": _accessors("note", **DRI, action="create"),
    "note_hook_commit.json": _accessors("note", **DRI, action="create"),
    "note_hook_snippet.json": _accessors("note", **DRI, action="create"),
    MERGE_REQUEST: _accessors("merge_request", **DRI, action="update"),
    PIPELINE: _accessors("pipeline", **BOT),
}
ACCESSOR_NAMES = sorted(ACCESSORS[OPENED])


def check_accessors(samples: Deliveries, name: str, expected: dict[str, Any]) -> None:
    verify = Verification(secret_token=samples.token)
    event = Event.from_http(samples.headers_for(name), samples.body(name), verification=verify)
    assert {attr: getattr(event, attr) for attr in ACCESSOR_NAMES} == expected


def check_null_description_side_reads_as_empty(samples: Deliveries) -> None:
    payload = samples.payload(TICKED_NAME)
    current = payload["changes"]["description"]["current"]
    payload["changes"]["description"]["previous"] = None
    event = event_of(TICKED_NAME, payload, samples=samples)
    assert event.description_change == ("", current)


def check_note_project_id_fallback(samples: Deliveries) -> None:
    """Without `project`, a note's top-level `project_id` names the project."""
    payload = samples.payload(NOTE)
    expected = payload["project_id"]
    assert expected == payload["project"]["id"]
    del payload["project"]
    assert event_of(NOTE, payload, samples=samples).project_id == expected


def test_every_fixture_is_covered() -> None:
    on_disk = sorted(path.name for path in WEBHOOKS.folder.glob("*.json"))
    assert on_disk == sorted(ACCESSORS) == WEBHOOKS.names


@pytest.mark.parametrize("name", sorted(ACCESSORS))
def test_accessors_on_every_fixture(name: str) -> None:
    check_accessors(WEBHOOKS, name, ACCESSORS[name])


def test_description_change_null_side_reads_as_empty() -> None:
    check_null_description_side_reads_as_empty(WEBHOOKS)


def test_note_top_level_project_id_is_the_fallback() -> None:
    check_note_project_id_fallback(WEBHOOKS)


ALL_REASONS = {
    value
    for name, value in vars(classify_module).items()
    if name.startswith(("QUEUED_", "IGNORED_")) and isinstance(value, str)
}


# --- defensive accessors -----------------------------------------------------------------

GARBAGE_PAYLOADS = [
    {},
    {"object_kind": 7, "user": "root", "project": [], "changes": None},
    {"object_kind": "issue", "object_attributes": "x", "changes": {"description": "x"}},
    {"object_kind": "issue", "object_attributes": {"iid": "23", "action": 1}},
    {"object_kind": "issue", "object_attributes": {"iid": True}, "user": {"id": False}},
    {"object_kind": "issue", "changes": {"description": {"previous": 1, "current": "x"}}},
    {"object_kind": "issue", "changes": {"description": {}}},
    {"object_kind": "note", "object_attributes": {"noteable_type": "Issue", "note": ["x"]}},
    {"object_kind": "note", "object_attributes": {"noteable_type": "Issue"}, "issue": 17},
    {"project": {"id": 1.0, "path_with_namespace": None}, "project_id": "5"},
]


@pytest.mark.parametrize("payload", GARBAGE_PAYLOADS)
def test_accessors_on_garbage_return_none(payload: dict[str, Any]) -> None:
    event = Event(kind="Issue Hook", payload=payload, delivery_key="k")
    for attr in ACCESSOR_NAMES:
        value = getattr(event, attr)
        if attr.startswith("is_"):
            assert isinstance(value, bool), attr
        elif attr != "object_kind":
            assert value is None, (attr, value)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three times in four the well-typed value, else any JSON value in its place.

    (Not ``one_of``: it would flatten ``json_values``' many branches in and drown it.)
    """
    return st.sampled_from([strategy, strategy, strategy, json_values]).flatmap(lambda s: s)


def _some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object with the fields (usually all, sometimes a subset), or any JSON value."""
    full = st.fixed_dictionaries(fields)
    subset = st.fixed_dictionaries({}, optional=fields)
    return _maybe(st.sampled_from([full, full, full, subset]).flatmap(lambda s: s))


ids = st.integers(min_value=1, max_value=6)
texts = st.sampled_from(["", "x", "- [ ] step", "- [x] step"]) | st.text(max_size=20)
notes = st.sampled_from(["/chatops run feature get my_flag", "hello", ""]) | st.text()

# Payloads shaped like GitLab's, so that classify gets past its first checks, with any JSON
# value at any point, so that the accessors meet the wrong types; plus arbitrary objects.
near_gitlab_payloads = st.fixed_dictionaries(
    {
        "object_kind": _maybe(st.sampled_from(["issue", "note", "merge_request", "work_item"])),
        "user": _some(id=_maybe(ids), username=_maybe(texts)),
        "project": _some(id=_maybe(ids), path_with_namespace=_maybe(texts)),
        "object_attributes": _some(
            iid=_maybe(ids),
            action=_maybe(st.sampled_from(["update", "create", "open"])),
            noteable_type=_maybe(st.sampled_from(["Issue", "MergeRequest"])),
            note=_maybe(notes),
            system=_maybe(st.booleans()),
        ),
    },
    optional={
        "project_id": _maybe(ids),
        "issue": _some(iid=_maybe(ids)),
        "changes": _some(description=_some(previous=_maybe(texts), current=_maybe(texts))),
    },
)
any_payload = near_gitlab_payloads | st.dictionaries(st.text(max_size=12), json_values)
any_kind = _maybe(st.sampled_from(sorted(HANDLED_KINDS))).map(
    lambda kind: kind if isinstance(kind, str) else None
)


def _exercise(event: Event, answer: bool) -> list[Decision]:
    """Read every accessor and classify under several configurations."""
    for attr in ACCESSOR_NAMES:
        getattr(event, attr)
    decisions = [
        classify(
            event,
            project_ids=project_ids,
            bot_user_id=99,
            is_rollout_issue=lambda _project, _iid: answer,
        )
        for project_ids in (None, {1, 5})
    ]
    for decision in decisions:
        assert decision.reason in ALL_REASONS
        assert decision.status == (202 if decision.queue else 200)
    return decisions


@settings(max_examples=500, deadline=None)
@given(payload=any_payload, kind=any_kind, answer=st.booleans())
def test_arbitrary_json_objects_never_make_accessors_or_classify_raise(
    payload: dict[str, Any], kind: str | None, answer: bool
) -> None:
    headers = {"X-Gitlab-Token": TOKEN, **({"X-Gitlab-Event": kind} if kind else {})}
    event = Event.from_http(headers, json.dumps(payload).encode(), verification=VERIFY)
    _exercise(event, answer)


# --- classify --------------------------------------------------------------------------


def test_reasons_are_distinct() -> None:
    names = [n for n in vars(classify_module) if n.startswith(("QUEUED_", "IGNORED_"))]
    assert len(ALL_REASONS) == len(names) == 16


def test_handled_kinds() -> None:
    assert HANDLED_KINDS == {
        "Issue Hook",
        "Confidential Issue Hook",
        "Note Hook",
        "Confidential Note Hook",
    }


def _with(samples: Deliveries, name: str, *changes: tuple[tuple[str, ...], Any]) -> dict[str, Any]:
    """A payload with values set (or, for the value ..., removed) at paths."""
    payload = copy.deepcopy(samples.payload(name))
    for path, value in changes:
        target = payload
        for key in path[:-1]:
            target = target[key]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return payload


COMMAND = "/chatops run feature set my_flag true --dev --staging --staging-ref"


def classify_cases(samples: Deliveries) -> list[Any]:
    """The classify table over an opened issue, a ticked box, a comment that runs nothing,
    a merge request and a pipeline, each changed where a case needs it.

    Ids (project, actor) are read from the payloads, so the same table runs on our
    fixtures and on GitLab's documented examples.
    """
    ticked = samples.payload(TICKED_NAME)
    project = ticked["project"]["id"]
    actor = ticked["user"]["id"]
    note_project = samples.payload(NOTE)["project"]["id"]
    note_actor = samples.payload(NOTE)["user"]["id"]

    def with_(name: str, *changes: tuple[tuple[str, ...], Any]) -> dict[str, Any]:
        return _with(samples, name, *changes)

    def note(text: str, *changes: tuple[tuple[str, ...], Any]) -> dict[str, Any]:
        return with_(NOTE, (("object_attributes", "note"), text), *changes)

    cases = [
        # (id, file, kind override, payload override, classify kwargs, queue, reason)
        ("ticked", TICKED_NAME, None, None, {}, True, QUEUED_DESCRIPTION_CHANGE),
        ("confidential-issue", TICKED_NAME, "Confidential Issue Hook", None, {}, True,
         QUEUED_DESCRIPTION_CHANGE),
        ("watched-project", TICKED_NAME, None, None, {"project_ids": {project}}, True,
         QUEUED_DESCRIPTION_CHANGE),
        ("other-project", TICKED_NAME, None, None, {"project_ids": {project + 1}}, False,
         IGNORED_OTHER_PROJECT),
        ("no-project", TICKED_NAME, None, with_(TICKED_NAME, (("project",), ...)),
         {"project_ids": {project}}, False, IGNORED_OTHER_PROJECT),
        ("bot-ticked", TICKED_NAME, None, None, {"bot_user_id": actor}, False,
         IGNORED_OWN_EVENT),
        ("no-user", TICKED_NAME, None, with_(TICKED_NAME, (("user",), ...)), {}, False,
         IGNORED_NO_ACTOR),
        ("opened", OPENED, None, None, {}, False, IGNORED_NOT_AN_UPDATE),
        ("no-description-change", TICKED_NAME, None,
         with_(TICKED_NAME, (("changes", "description"), ...)), {}, False,
         IGNORED_NO_DESCRIPTION_CHANGE),
        ("same-description", TICKED_NAME, None,
         with_(TICKED_NAME, (("changes", "description", "previous"),
                             ticked["changes"]["description"]["current"])), {},
         False, IGNORED_NO_DESCRIPTION_CHANGE),
        ("work-item", TICKED_NAME, None, with_(TICKED_NAME, (("object_kind",), "work_item")),
         {}, False, IGNORED_NOT_AN_ISSUE),
        ("no-iid", TICKED_NAME, None, with_(TICKED_NAME, (("object_attributes", "iid"), ...)),
         {}, False, IGNORED_NO_ISSUE),
        ("merge-request", MERGE_REQUEST, None, None, {}, False, IGNORED_UNHANDLED_KIND),
        ("pipeline", PIPELINE, None, None, {}, False, IGNORED_UNHANDLED_KIND),
        ("no-kind-header", TICKED_NAME, "", None, {}, False, IGNORED_UNHANDLED_KIND),
        ("command", NOTE, None, note(COMMAND), {}, True, QUEUED_CHATOPS_COMMAND),
        ("command-then-text", NOTE, None, note(COMMAND + "\nplease"), {}, True,
         QUEUED_CHATOPS_COMMAND),
        ("command-crlf", NOTE, None, note(COMMAND + "\r\nthanks"), {}, True,
         QUEUED_CHATOPS_COMMAND),
        ("command-in-backticks", NOTE, None, note(f"`{COMMAND}`"), {}, True,
         QUEUED_CHATOPS_COMMAND),
        ("confidential-note", NOTE, "Confidential Note Hook", note(COMMAND), {}, True,
         QUEUED_CHATOPS_COMMAND),
        ("note-without-action", NOTE, None,
         note(COMMAND, (("object_attributes", "action"), ...)), {}, True,
         QUEUED_CHATOPS_COMMAND),
        ("plain-comment", NOTE, None, None, {}, False, IGNORED_NOT_A_COMMAND),
        ("command-on-second-line", NOTE, None, note("see:\n" + COMMAND), {}, False,
         IGNORED_NOT_A_COMMAND),
        ("bare-prefix", NOTE, None, note("/chatops run"), {}, False, IGNORED_NOT_A_COMMAND),
        ("edited-note", NOTE, None, note(COMMAND, (("object_attributes", "action"), "update")),
         {}, False, IGNORED_NOTE_EDITED),
        ("system-note", NOTE, None, note(COMMAND, (("object_attributes", "system"), True)), {},
         False, IGNORED_SYSTEM_NOTE),
        ("note-on-mr", NOTE, None,
         note(COMMAND, (("object_attributes", "noteable_type"), "MergeRequest")), {}, False,
         IGNORED_NOT_ON_ISSUE),
        ("bot-comment", NOTE, None, note(COMMAND), {"bot_user_id": note_actor}, False,
         IGNORED_OWN_EVENT),
        ("note-other-project", NOTE, None, note(COMMAND), {"project_ids": {note_project + 1}},
         False, IGNORED_OTHER_PROJECT),
        ("note-no-issue", NOTE, None, note(COMMAND, (("issue",), ...)), {}, False,
         IGNORED_NO_ISSUE),
        # Adopting is asked on an issue that is no rollout issue yet: never looked up.
        ("adopt", NOTE, None, note("/rollout-bot adopt"),
         {"is_rollout_issue": lambda _project, _iid: False}, True, QUEUED_ADOPT_COMMAND),
        ("adopt-backticks-case", NOTE, None, note("`/Rollout-Bot  adopt`\nplease"), {}, True,
         QUEUED_ADOPT_COMMAND),
        ("adopt-second-line", NOTE, None, note("hi\n/rollout-bot adopt"), {}, False,
         IGNORED_NOT_A_COMMAND),
        ("adopt-more-words", NOTE, None, note("/rollout-bot adopt now"), {}, False,
         IGNORED_NOT_A_COMMAND),
        ("adopt-edited", NOTE, None,
         note("/rollout-bot adopt", (("object_attributes", "action"), "update")), {}, False,
         IGNORED_NOTE_EDITED),
        ("adopt-system-note", NOTE, None,
         note("/rollout-bot adopt", (("object_attributes", "system"), True)), {}, False,
         IGNORED_SYSTEM_NOTE),
        ("adopt-on-mr", NOTE, None,
         note("/rollout-bot adopt", (("object_attributes", "noteable_type"), "MergeRequest")),
         {}, False, IGNORED_NOT_ON_ISSUE),
        ("adopt-by-bot", NOTE, None, note("/rollout-bot adopt"), {"bot_user_id": note_actor},
         False, IGNORED_OWN_EVENT),
        ("adopt-no-issue", NOTE, None, note("/rollout-bot adopt", (("issue",), ...)), {}, False,
         IGNORED_NO_ISSUE),
    ]  # fmt: skip
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


# Our own fixtures for what the table above makes by changing a payload, and more.
FIXTURE_CASES = [
    pytest.param(name, None, None, {}, queue, reason, id=name.removesuffix(".json"))
    for name, queue, reason in [
        ("issue_hook_relabelled.json", False, IGNORED_NO_DESCRIPTION_CHANGE),
        ("confidential_issue_hook_task_ticked.json", True, QUEUED_DESCRIPTION_CHANGE),
        ("note_hook_issue_chatops.json", True, QUEUED_CHATOPS_COMMAND),
        ("confidential_note_hook_issue.json", True, QUEUED_CHATOPS_COMMAND),
        ("note_hook_merge_request.json", False, IGNORED_NOT_ON_ISSUE),
        ("note_hook_commit.json", False, IGNORED_NOT_ON_ISSUE),
        ("note_hook_snippet.json", False, IGNORED_NOT_ON_ISSUE),
    ]
]


def check_classify(
    samples: Deliveries,
    name: str,
    kind: str | None,
    payload: dict[str, Any] | None,
    kwargs: dict[str, Any],
    queue: bool,
    reason: str,
) -> None:
    event = Event(
        kind=samples.kind_of[name] if kind is None else (kind or None),
        payload=samples.payload(name) if payload is None else payload,
        delivery_key="k",
    )
    decision = classify(event, **{"project_ids": None, "bot_user_id": 42, **kwargs})
    assert decision == Decision(queue, reason)
    assert decision.status == (202 if queue else 200)


@pytest.mark.parametrize(
    ("name", "kind", "payload", "kwargs", "queue", "reason"),
    classify_cases(WEBHOOKS) + FIXTURE_CASES,
)
def test_classify(
    name: str,
    kind: str | None,
    payload: dict[str, Any] | None,
    kwargs: dict[str, Any],
    queue: bool,
    reason: str,
) -> None:
    check_classify(WEBHOOKS, name, kind, payload, kwargs, queue, reason)


def test_every_fixture_has_a_classify_case() -> None:
    names = {case.values[0] for case in classify_cases(WEBHOOKS) + FIXTURE_CASES}
    assert names == set(WEBHOOKS.names)


def check_asks_whether_it_is_a_rollout_issue(
    samples: Deliveries, name: str, payload: dict[str, Any] | None, expected_call: tuple[int, int]
) -> None:
    asked: list[tuple[int, int]] = []

    def rollout_issues(answer: bool) -> Callable[[int, int], bool]:
        def is_rollout_issue(project_id: int, issue_iid: int) -> bool:
            asked.append((project_id, issue_iid))
            return answer

        return is_rollout_issue

    event = event_of(name, payload, samples=samples)
    yes = classify(event, project_ids=None, bot_user_id=None, is_rollout_issue=rollout_issues(True))
    no = classify(event, project_ids=None, bot_user_id=None, is_rollout_issue=rollout_issues(False))
    assert yes.queue and not no.queue
    assert no.reason == IGNORED_NOT_ROLLOUT_ISSUE
    assert asked == [expected_call, expected_call]


@pytest.mark.parametrize(
    ("name", "payload", "expected_call"),
    [
        (TICKED_NAME, None, (278964, ROLLOUT_ISSUE_IID)),
        (NOTE, _with(WEBHOOKS, NOTE, (("object_attributes", "note"), COMMAND)), (278964, 368976)),
        ("note_hook_issue_chatops.json", None, (278964, 368976)),
    ],
)
def test_classify_asks_whether_it_is_a_rollout_issue(
    name: str, payload: dict[str, Any] | None, expected_call: tuple[int, int]
) -> None:
    check_asks_whether_it_is_a_rollout_issue(WEBHOOKS, name, payload, expected_call)


def check_does_not_ask_about_events_it_ignores(samples: Deliveries) -> None:
    def must_not_be_called(project_id: int, issue_iid: int) -> bool:
        raise AssertionError("asked about an ignored event")

    decision = classify(
        event_of(OPENED, samples=samples),
        project_ids=None,
        bot_user_id=None,
        is_rollout_issue=must_not_be_called,
    )
    assert decision.reason == IGNORED_NOT_AN_UPDATE


def test_classify_does_not_ask_about_events_it_ignores() -> None:
    check_does_not_ask_about_events_it_ignores(WEBHOOKS)


def check_ticked_box_is_queued(samples: Deliveries) -> None:
    verify = Verification(secret_token=samples.token)
    headers = samples.headers_for(TICKED_NAME)
    event = Event.from_http(headers, samples.body(TICKED_NAME), verification=verify)
    watched = {samples.payload(TICKED_NAME)["project"]["id"]}
    decision = classify(event, project_ids=watched, bot_user_id=42)
    assert (decision.status, decision.reason) == (202, QUEUED_DESCRIPTION_CHANGE)


def test_end_to_end_ticked_box_is_queued() -> None:
    check_ticked_box_is_queued(WEBHOOKS)


# Paths classify reads; the mutation test below hits them often, not only by chance.
READ_PATHS: list[tuple[str, ...]] = [
    ("object_kind",),
    ("user",),
    ("user", "id"),
    ("project",),
    ("project", "id"),
    ("project_id",),
    ("object_attributes",),
    ("object_attributes", "iid"),
    ("object_attributes", "action"),
    ("object_attributes", "noteable_type"),
    ("object_attributes", "note"),
    ("object_attributes", "system"),
    ("issue",),
    ("issue", "iid"),
    ("changes",),
    ("changes", "description"),
    ("changes", "description", "previous"),
    ("changes", "description", "current"),
]


def queued_samples(samples: Deliveries) -> dict[str, tuple[str, dict[str, Any]]]:
    """A ticked box and a chatops comment: payloads classify queues, to be broken."""
    return {
        "ticked-issue": ("Issue Hook", samples.payload(TICKED_NAME)),
        "chatops-note": (
            "Note Hook",
            _with(samples, NOTE, (("object_attributes", "note"), COMMAND)),
        ),
    }


def _all_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        children = []
    for key, child in children:
        paths += _all_paths(child, (*prefix, key))
    return paths


def _replace(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set the value at path, or delete it when value is ...; skip paths no longer there."""
    parent: Any = payload
    for key in path[:-1]:
        if isinstance(parent, dict):
            parent = parent.get(key)
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            parent = parent[key]
        else:
            return
    last = path[-1]
    if isinstance(parent, dict) and value is ...:
        parent.pop(last, None)
    elif isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        parent[last] = None if value is ... else value


def break_and_exercise(data: st.DataObject, samples: Deliveries) -> None:
    """Replace or remove values in a queued payload; classify must still answer."""
    queued = queued_samples(samples)
    kind, original = queued[data.draw(st.sampled_from(sorted(queued)))]
    payload = copy.deepcopy(original)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(READ_PATHS) | st.sampled_from(_all_paths(payload)))
        _replace(payload, path, data.draw(st.just(...) | json_values))
    event = Event(kind=kind, payload=payload, delivery_key="k")
    _exercise(event, data.draw(st.booleans()))


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_real_payloads_with_values_replaced_never_make_classify_raise(
    data: st.DataObject,
) -> None:
    break_and_exercise(data, WEBHOOKS)
