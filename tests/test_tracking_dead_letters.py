"""An outbox that cannot jam: 413 splits, poison events become dead letters while later
events still arrive, operators list and resend them; no transaction is held while posting;
settling counts sent events per hour, table and operation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from rollout_bot.cli.tracking import NOT_DEAD, REQUEUED, retry_command, status_command
from tests.snowplow_collector import Collector, Stall
from tests.snowplow_collector.stack import FAST, Stack, event_id, new_stage, standard_of
from tracking import sent_counts
from tracking.metrics import TrackingCollector
from tracking.posting import TOO_LARGE_ALONE
from tracking.status import DEAD_LETTERS_HEADER, DEAD_LETTERS_NONE, read_status, status_text

POISON = "poison"


def _is_poison(event: dict[str, Any]) -> bool:
    return bool(standard_of(event)["extra"]["name"] == POISON)


def _names(events: list[dict[str, Any]]) -> list[str]:
    return sorted(standard_of(e)["extra"]["name"] for e in events)


def _wait_for_status(collector: Collector, status: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(r.status == status for r in collector.requests):
        assert time.monotonic() < deadline, f"no {status} answer within {timeout} s"
        time.sleep(0.01)


def _metrics(stack: Stack) -> dict[str, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrackingCollector(stack.engine))
    text = generate_latest(registry).decode()
    return dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def _poison_row(stack: Stack) -> sa.Row[Any]:
    with stack.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM tracking_outbox")).all()
    (row,) = rows
    assert standard_of(_decoded(row.payload))["extra"]["name"] == POISON
    return row


def _decoded(payload: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(payload)
    return event


def test_a_collector_that_answers_413_over_n_events_receives_them_all_split(
    stack: Stack,
) -> None:
    stack.reinstall(settings=dataclasses.replace(FAST, batch_size=10))
    stack.collector.max_events = 3
    stack.commit(*(new_stage() for _ in range(10)))

    events = stack.delivered(10)

    assert len({e["eid"] for e in events}) == 10
    sizes = [(r.status, len(r.events)) for r in stack.collector.requests]
    assert (413, 10) in sizes
    assert all(size <= 3 for status, size in sizes if status == 200), sizes
    assert read_status(stack.engine).dead == 0


def test_a_poison_event_is_dead_lettered_listed_and_sent_by_retry(stack: Stack) -> None:
    stack.collector.refuse(_is_poison, 413)
    stack.commit(new_stage(name="before"), new_stage(name=POISON), new_stage(name="beside"))
    assert stack.tracker.flush(5) == 0  # the dead letter no longer waits
    stack.commit(new_stage(name="later"))

    assert _names(stack.delivered(3)) == ["before", "beside", "later"]
    poison = _poison_row(stack)
    assert poison.dead_at is not None
    assert poison.last_error == TOO_LARGE_ALONE.format(
        error=f"HTTP 413 from {stack.tracker.endpoint}"
    )

    status = read_status(stack.engine)
    assert (status.waiting, status.dead) == (0, 1)
    (letter,) = status.dead_letters
    assert (letter.id, letter.table, letter.op) == (poison.id, "group_stages", "create")
    assert letter.event_id == event_id(poison.payload)
    env = {"ROLLOUT_BOT_DATABASE_URL": stack.url}
    text = CliRunner().invoke(status_command, [], env=env)
    assert text.exit_code == 0, text.output
    assert DEAD_LETTERS_HEADER.format(count=1) in text.output
    assert f"  {poison.id}: event {letter.event_id} (group_stages create)" in text.output
    as_json = CliRunner().invoke(status_command, ["--json"], env=env)
    assert f'"id": {poison.id}' in as_json.output and '"count": 1' in as_json.output
    assert _metrics(stack)["rollout_bot_tracking_dead_letters"] == "1.0"

    stack.collector.accept_all()
    retried = CliRunner().invoke(retry_command, [str(poison.id)], env=env)
    assert retried.exit_code == 0, retried.output
    assert retried.output.strip() == REQUEUED.format(count=1, ids=str(poison.id))

    (event,) = stack.delivered(4)[3:]
    assert event["eid"] == letter.event_id  # the same event, not a copy
    assert stack.outbox_depth() == 0
    assert status_text(read_status(stack.engine)).splitlines()[-1] == DEAD_LETTERS_NONE
    assert _metrics(stack)["rollout_bot_tracking_dead_letters"] == "0.0"


def test_retry_refuses_what_is_not_a_dead_letter_and_needs_ids_or_all(stack: Stack) -> None:
    env = {"ROLLOUT_BOT_DATABASE_URL": stack.url}

    unknown = CliRunner().invoke(retry_command, ["999"], env=env)
    neither = CliRunner().invoke(retry_command, [], env=env)
    every = CliRunner().invoke(retry_command, ["--all"], env=env)

    assert unknown.exit_code == 1
    assert NOT_DEAD.format(ids="999") in unknown.output
    assert neither.exit_code == 2
    assert every.exit_code == 0
    assert every.output.strip() == REQUEUED.format(count=0, ids="none")


def test_an_event_the_collector_keeps_failing_on_is_isolated_and_dead_lettered(
    stack: Stack,
) -> None:
    stack.reinstall(settings=dataclasses.replace(FAST, batch_size=8, dead_letter_attempts=6))
    stack.collector.refuse(_is_poison, 500)
    stack.commit(*(new_stage(name=f"good {i}") for i in range(7)), new_stage(name=POISON))
    _wait_for_status(stack.collector, 500)
    stack.commit(*(new_stage(name=f"later {i}") for i in range(4)))

    assert stack.tracker.flush(15) == 0

    accepted = stack.collector.accepted()
    assert sorted(_names(accepted)) == sorted(
        [f"good {i}" for i in range(7)] + [f"later {i}" for i in range(4)]
    )
    assert len(set(stack.collector.accepted_ids())) == 11
    poison = _poison_row(stack)
    assert poison.dead_at is not None and poison.attempts == 6
    assert "HTTP 500" in poison.last_error
    # Halving isolated it: its last attempts were posted alone.
    assert [len(r.events) for r in stack.collector.requests if r.status == 500][-2:] == [1, 1]


def test_a_failing_batch_does_not_hold_later_events_back(stack: Stack) -> None:
    stack.reinstall(settings=dataclasses.replace(FAST, dead_letter_attempts=None))
    stack.collector.refuse(_is_poison, 503)
    stack.commit(new_stage(name=POISON))
    _wait_for_status(stack.collector, 503)

    stack.commit(*(new_stage(name=f"later {i}") for i in range(5)))

    later = stack.collector.wait_for(5, timeout=5)
    assert _names(later) == [f"later {i}" for i in range(5)]
    deadline = time.monotonic() + 5
    while stack.outbox_depth() > 1:  # the later events' settlement
        assert time.monotonic() < deadline
        time.sleep(0.01)
    poison = _poison_row(stack)
    assert poison.dead_at is None and poison.attempts >= 1
    # Every request with later events held no event that had failed before.
    for request in stack.collector.requests:
        names = {standard_of(e)["extra"]["name"] for e in request.events}
        assert names == {POISON} or POISON not in names


def test_no_transaction_or_row_lock_is_held_while_posting(stack: Stack) -> None:
    stack.reinstall(settings=dataclasses.replace(FAST, read_timeout=3.0, lease=5.0))
    stack.collector.answer(Stall(1.0))
    (stage,) = stack.commit(new_stage())
    deadline = time.monotonic() + 5
    with stack.engine.connect() as conn:
        while conn.scalar(sa.text("SELECT locked_by FROM tracking_outbox")) is None:
            assert time.monotonic() < deadline, "never claimed"
            time.sleep(0.01)

    # The claim is committed: another transaction writes the claimed row at once.
    started = time.perf_counter()
    with stack.engine.begin() as conn:
        if stack.engine.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        updated = conn.execute(
            sa.text("UPDATE tracking_outbox SET last_error = 'probe' WHERE locked_by IS NOT NULL")
        ).rowcount
    assert updated == 1
    assert time.perf_counter() - started < 0.5
    assert stack.collector.requests == []  # the post is still in flight

    (event,) = stack.delivered(1)
    assert standard_of(event)["extra"]["id"] == stage.id


def test_settling_counts_sent_events_per_hour_table_and_operation(stack: Stack) -> None:
    stages = stack.commit(*(new_stage() for _ in range(3)))
    with stack.Session() as session:
        changed = session.get(type(stages[0]), stages[0].id)
        assert changed is not None
        changed.name = "renamed"
        gone = session.get(type(stages[1]), stages[1].id)
        session.delete(gone)
        session.commit()
    stack.delivered(5)

    expected = {("group_stages", "create"): 3, ("group_stages", "destroy"): 1}
    expected[("group_stages", "update")] = 1
    assert sent_counts.totals(stack.engine) == expected
    hours = sent_counts.by_hour(stack.engine, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert sum(h.events for h in hours) == 5
    assert {h.hour for h in hours} <= {
        sent_counts.hour_of(dt.datetime.now(dt.UTC)),
        sent_counts.hour_of(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)),
    }
    samples = _metrics(stack)
    assert samples['rollout_bot_tracking_events_sent_total{op="create",table="group_stages"}'] == (
        "3.0"
    )
    assert samples['rollout_bot_tracking_events_sent_total{op="update",table="group_stages"}'] == (
        "1.0"
    )


def test_an_event_older_than_the_age_limit_is_dead_lettered_at_its_next_failure(
    stack: Stack,
) -> None:
    settings = dataclasses.replace(FAST, dead_letter_attempts=None, dead_letter_age=0.5)
    stack.reinstall(settings=settings)
    stack.collector.default = 500
    stack.commit(new_stage(name=POISON))

    started = time.monotonic()
    assert stack.tracker.flush(10) == 0
    assert time.monotonic() - started >= 0.4  # retried until it was old enough

    poison = _poison_row(stack)
    assert poison.dead_at is not None and poison.attempts >= 2
    assert read_status(stack.engine).dead == 1
