"""Hostile and extreme input at `/webhook`, on SQLite and PostgreSQL: never a 500.

Ids outside 64-bit range, over-long keys and UUID headers, and an Issue Hook at GitLab's
largest description; and the private pages through the app the service serves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from flags.database import (
    SQLITE_BUSY_TIMEOUT_MS,
    WriterTurnTimeout,
    make_engine,
    share_writer_turn_timeouts,
    writer_turn,
    writer_turn_timeouts,
)
from gitlab_ops import issue_updates
from gitlab_ops.schema import rollout_issues
from rollout_bot import database
from rollout_bot.config import Settings
from rollout_bot.runtime import open_runtime
from rollout_bot.server import build
from templates.steps import set_checked
from tests.bot_stack import FLAG, bot_stack
from tests.fixtures.gitlab import WEBHOOKS
from tests.forking import run_forked
from webhook import inbox
from webhook.app import create_app
from webhook.page_auth import MSG_PAGES_OFF
from webhook.payload import MAX_EVENT_UUID_CHARS, MSG_ID_OUT_OF_RANGE
from webhook.receiver import ReceiverConfig
from webhook.verification import MAX_BODY_BYTES, MAX_KEY_CHARS, Verification

SECRET = "s3cret-token"
TICKED = "issue_hook_task_ticked.json"
GITLAB_DESCRIPTION_LIMIT = 1_048_576  # characters (Issue::DESCRIPTION_LENGTH_MAX)


def record_rollout_issue(engine: sa.Engine) -> dict[str, Any]:
    """The ticked fixture's issue recorded as a rollout issue; its payload."""
    payload = WEBHOOKS.payload(TICKED)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(rollout_issues).values(
                project_id=payload["project"]["id"],
                issue_iid=payload["object_attributes"]["iid"],
                flag=FLAG,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return payload


@pytest.fixture
def client(database_url: str) -> Iterator[tuple[FlaskClient, sa.Engine]]:
    """The app `serve` runs, with the ticked fixture's issue recorded as a rollout issue."""
    env = {
        "ROLLOUT_BOT_DATABASE_URL": database_url,
        "ROLLOUT_BOT_DEFINITIONS": "",
        "ROLLOUT_BOT_WEBHOOK_SECRET": SECRET,
    }
    runtime = open_runtime(Settings.from_env(env))
    record_rollout_issue(runtime.engine)
    app, _ = build(runtime)
    try:
        yield app.test_client(), runtime.engine
    finally:
        runtime.engine.dispose()


def deliver(
    client: FlaskClient, payload: dict[str, Any], **headers: str
) -> tuple[int, dict[str, Any]]:
    sent = WEBHOOKS.headers_for(TICKED, **{"X-Gitlab-Token": SECRET})
    sent.update(headers)
    response = client.post("/webhook", data=json.dumps(payload), headers=sent)
    return response.status_code, response.get_json()


def with_value(path: tuple[str, ...], value: object) -> dict[str, Any]:
    payload = WEBHOOKS.payload(TICKED)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 10**40])
@pytest.mark.parametrize(
    "path",
    [("project", "id"), ("object_attributes", "iid"), ("user", "id")],
    ids=["project-id", "iid", "user-id"],
)
def test_ids_outside_64_bits_are_a_400_not_a_500(
    client: tuple[FlaskClient, sa.Engine], path: tuple[str, ...], value: int
) -> None:
    app, engine = client
    status, body = deliver(app, with_value(path, value))
    assert status == 400, body
    assert body == {
        "status": "rejected",
        "reason": MSG_ID_OUT_OF_RANGE.format(field=".".join(path)),
    }
    assert inbox.counts(engine) == {}


def test_the_largest_64_bit_ids_are_looked_up_not_a_500(
    client: tuple[FlaskClient, sa.Engine],
) -> None:
    app, _ = client
    payload = with_value(("project", "id"), 2**63 - 1)
    payload["object_attributes"]["iid"] = 2**63 - 1
    status, body = deliver(app, payload)
    assert (status, body["status"]) == (200, "ignored")  # no such rollout issue


def test_the_largest_64_bit_ids_round_trip(client: tuple[FlaskClient, sa.Engine]) -> None:
    app, engine = client
    largest = 2**63 - 1
    with engine.begin() as conn:
        conn.execute(
            sa.insert(rollout_issues).values(
                project_id=largest, issue_iid=largest, flag=FLAG, created_at=dt.datetime.now(dt.UTC)
            )
        )
    payload = with_value(("project", "id"), largest)
    payload["object_attributes"]["iid"] = largest
    status, body = deliver(app, payload)
    assert (status, body["status"]) == (202, "queued")
    claimed = inbox.claim(engine, "test", lease=30)
    assert claimed is not None
    assert (claimed.project_id, claimed.issue_iid) == (largest, largest)
    issue_updates.enqueue(engine, largest, largest, FLAG, comment="hello")
    assert {(u.project_id, u.issue_iid) for u in issue_updates.listing(engine)} == {
        (largest, largest)
    }
    with engine.connect() as conn:
        recorded = conn.execute(
            sa.select(rollout_issues.c.project_id, rollout_issues.c.issue_iid).where(
                rollout_issues.c.flag == FLAG, rollout_issues.c.project_id == largest
            )
        ).all()
    assert [tuple(row) for row in recorded] == [(largest, largest)]
    payload["object_attributes"]["iid"] = largest + 1
    status, body = deliver(app, payload)
    assert status == 400 and body["reason"] == MSG_ID_OUT_OF_RANGE.format(
        field="object_attributes.iid"
    )


@pytest.mark.parametrize("header", ["Idempotency-Key", "webhook-id"])
def test_an_over_long_delivery_key_is_stored_as_its_hash(
    client: tuple[FlaskClient, sa.Engine], header: str
) -> None:
    app, engine = client
    key = "k" * 300
    status, body = deliver(app, WEBHOOKS.payload(TICKED), **{header: key})
    assert (status, body["status"]) == (202, "queued")
    assert deliver(app, WEBHOOKS.payload(TICKED), **{header: key})[1]["status"] == "duplicate"
    with engine.connect() as conn:
        (stored,) = conn.execute(sa.select(inbox.inbox.c.delivery_key)).scalars().all()
    assert stored == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert len(stored) <= MAX_KEY_CHARS


def test_an_over_long_event_uuid_is_dropped(client: tuple[FlaskClient, sa.Engine]) -> None:
    app, engine = client
    uuid = "u" * (MAX_EVENT_UUID_CHARS + 1)
    status, _ = deliver(app, WEBHOOKS.payload(TICKED), **{"X-Gitlab-Event-UUID": uuid})
    assert status == 202
    with engine.connect() as conn:
        assert conn.execute(sa.select(inbox.inbox.c.event_uuid)).scalars().all() == [None]


def test_private_pages_are_off_without_a_token_and_public_ones_stay(
    client: tuple[FlaskClient, sa.Engine],
) -> None:
    app, _ = client
    for path in ("/", "/metrics"):
        response = app.get(path)
        assert response.status_code == 404
        assert response.text == MSG_PAGES_OFF
        assert app.get(path, headers={"Authorization": "Bearer anything"}).status_code == 404
    assert app.get("/healthz").status_code == 200


def test_default_limit_takes_an_issue_hook_at_gitlabs_description_limit(
    database_url: str,
) -> None:
    """1,048,576 four-byte characters, carried three times: about 12 MiB, and the tick runs."""
    assert Settings.from_env({}).max_body_bytes == MAX_BODY_BYTES
    with bot_stack(database_url) as stack:
        iid = stack.open_issue()
        description = stack.description(iid)
        filler = "\N{GRINNING FACE}" * (GITLAB_DESCRIPTION_LIMIT - len(description) - 1)
        stack.fake.edit_issue_as(
            stack.alice, stack.project, iid, description=description + "\n" + filler
        )
        assert len(stack.description(iid)) == GITLAB_DESCRIPTION_LIMIT
        ticked = set_checked(stack.description(iid), "enable-non-production-command", True)
        (tick,) = stack.fake.edit_issue_as(stack.alice, stack.project, iid, description=ticked)
        assert len(tick.body) > 12_000_000  # over the old 8 MiB default
        assert tick.status_code == 202, tick.response_body
        stack.wait_idle(120)
        assert stack.checked(iid, "enable-non-production-command")
        state = stack.state("dev")
        assert state is not None and state.state == "on"


def test_a_delivery_that_waits_past_its_turn_to_write_gets_503_and_nothing_stored(
    tmp_path: Path,
) -> None:
    """The SQLite writer turn is bounded: past it, a 503 (GitLab sends again), no row, a count."""
    url = f"sqlite:///{tmp_path / 'turn.sqlite3'}"
    database.upgrade(url)
    engine = make_engine(url)
    payload = record_rollout_issue(engine)
    receiver = ReceiverConfig(
        engine=engine, verification=Verification(secret_token=SECRET), store_wait_seconds=0.05
    )
    app = create_app(engine, receiver=receiver, dashboard_token="t")
    with turn_held_by_another_thread(engine):
        before = writer_turn_timeouts()
        status, body = deliver(app.test_client(), payload)
        assert status == 503, body
        assert body["reason"].startswith("not stored, try again: another writer")
        assert writer_turn_timeouts() == before + 1
        assert inbox.counts(engine) == {}
        scrape = app.test_client().get("/metrics", headers={"Authorization": "Bearer t"})
        assert f"rollout_bot_sqlite_writer_turn_timeouts_total {before + 1}.0" in scrape.text
    try:
        status, body = deliver(app.test_client(), payload)
        assert (status, body["status"]) == (202, "queued")  # the turn is free again
        assert inbox.counts(engine) == {inbox.PENDING: 1}
    finally:
        engine.dispose()


@contextmanager
def turn_held_by_another_thread(engine: sa.Engine) -> Iterator[None]:
    holding, release = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        with writer_turn(engine):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join()


def _time_out_a_writer_turn(url: str) -> None:
    engine = make_engine(url)
    try:
        with turn_held_by_another_thread(engine), writer_turn(engine, 0.05):
            raise AssertionError("the turn was held: this writer must have timed out")
    except WriterTurnTimeout:
        pass
    finally:
        engine.dispose()


def test_writer_turn_timeouts_in_forked_processes_count_in_one_total(tmp_path: Path) -> None:
    """`serve` shares the count before gunicorn forks its web processes: /metrics is
    answered by whichever of them accepts the scrape, and a count of each process's own
    goes up and down between scrapes, which Prometheus reads as resets."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    database.upgrade(url)
    share_writer_turn_timeouts()
    before = writer_turn_timeouts()
    exitcode = run_forked(_time_out_a_writer_turn, url)
    assert exitcode == 0
    assert writer_turn_timeouts() == before + 1


def test_a_delivery_polls_for_a_lock_another_process_holds_within_its_turn(
    tmp_path: Path,
) -> None:
    """SQLite's write lock held by another connection (a worker process): the receiver asks
    again every millisecond, stores the delivery in the first gap, and gives up with a 503
    past its turn; its connection keeps the usual busy timeout for everyone else."""
    path = tmp_path / "poll.sqlite3"
    url = f"sqlite:///{path}"
    database.upgrade(url)
    engine = make_engine(url)
    payload = record_rollout_issue(engine)
    receiver = ReceiverConfig(
        engine=engine, verification=Verification(secret_token=SECRET), store_wait_seconds=0.3
    )
    client = create_app(engine, receiver=receiver).test_client()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock, as a worker's transaction holds it
        before = writer_turn_timeouts()
        status, body = deliver(client, payload)
        assert status == 503, body
        assert body["reason"] == (
            "not stored, try again: another process held the SQLite database until the "
            "delivery's turn ran out"
        )
        assert writer_turn_timeouts() == before + 1
        other.execute("ROLLBACK")

        other.execute("BEGIN IMMEDIATE")
        freed = threading.Timer(0.1, lambda: other.execute("ROLLBACK"))
        freed.start()
        status, body = deliver(client, payload)  # the lock comes free within the turn
        freed.join()
        assert (status, body["status"]) == (202, "queued")
        assert inbox.counts(engine) == {inbox.PENDING: 1}
        assert writer_turn_timeouts() == before + 1
        with engine.connect() as conn:
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert timeout == SQLITE_BUSY_TIMEOUT_MS
    finally:
        other.close()
        engine.dispose()
