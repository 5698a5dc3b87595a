"""Bounded tables on each database: what the purge takes, what it keeps, how often it runs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from flags.database import make_engine
from flags.schema import command_runs, flag_audit
from gitlab_ops.update_schema import issue_updates
from rollout_bot.cli import main
from webhook import inbox, retention
from webhook.schema import inbox_deliveries

NOW = dt.datetime(2026, 12, 16, 12, 0, tzinfo=dt.UTC)
DAYS = 30
CUTOFF = NOW - dt.timedelta(days=DAYS)
TICK = dt.timedelta(microseconds=1)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def delivery(
    key: str, status: str, *, received: dt.datetime, finished: dt.datetime | None
) -> dict[str, Any]:
    return {
        "delivery_key": key, "kind": "Issue Hook", "project_id": 1, "issue_iid": 1,
        "issue_key": "1#1", "payload": "{}", "received_at": received, "status": status,
        "attempts": 1, "next_attempt_at": received, "finished_at": finished,
    }  # fmt: skip


def update(key: str, status: str, finished: dt.datetime | None) -> dict[str, Any]:
    return {
        "key": key, "project_id": 1, "issue_iid": 1, "issue_key": "1#1", "kind": "comment",
        "flag": "f", "body": "b", "created_at": days_ago(60), "status": status, "attempts": 1,
        "next_attempt_at": days_ago(60), "finished_at": finished,
    }  # fmt: skip


def seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(inbox_deliveries),
            [
                delivery("done-old", inbox.DONE, received=days_ago(31), finished=CUTOFF - TICK),
                delivery("done-at-age", inbox.DONE, received=days_ago(31), finished=CUTOFF),
                delivery("done-new", inbox.DONE, received=days_ago(1), finished=days_ago(1)),
                delivery("failed-old", inbox.FAILED, received=days_ago(40), finished=days_ago(31)),
                # Arrived long ago, failed recently: retryable, and so are its runs.
                delivery(
                    "failed-recent", inbox.FAILED, received=days_ago(50), finished=days_ago(2)
                ),
                delivery("pending-old", inbox.PENDING, received=days_ago(45), finished=None),
                delivery("processing-old", inbox.PROCESSING, received=days_ago(44), finished=None),
            ],
        )
        conn.execute(
            sa.insert(issue_updates),
            [
                update("posted-old", "done", CUTOFF - TICK),
                update("posted-at-age", "done", CUTOFF),
                update("failed-old", "failed", days_ago(90)),
                update("pending", "pending", None),
            ],
        )
        conn.execute(
            sa.insert(command_runs),
            [
                {"key": "failed-recent:step", "result": {}, "created_at": days_ago(49)},
                {"key": "done-old:step", "result": {}, "created_at": days_ago(31)},
                {"key": "done-new:step", "result": {}, "created_at": days_ago(1)},
            ],
        )
        conn.execute(
            sa.insert(flag_audit).values(
                at=days_ago(31), environment="production", feature="f", action="set",
                gate="boolean", who="nb", source="issue", delivery="done-old",
                command="feature set f true",
            )
        )  # fmt: skip


def keys(engine: sa.Engine, column: sa.ColumnElement[str]) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(column)))


def test_purge_keeps_what_may_still_run_and_the_audit(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        seed(engine)
        purged = retention.purge(engine, dt.timedelta(days=DAYS), now=NOW)
        assert purged == retention.Purged(deliveries=2, updates=1, runs=0)
        assert keys(engine, inbox_deliveries.c.delivery_key) == {
            "done-at-age", "done-new", "failed-recent", "pending-old", "processing-old",
        }  # fmt: skip
        assert keys(engine, issue_updates.c.key) == {"posted-at-age", "failed-old", "pending"}
        # The oldest delivery that may still run arrived 50 days ago: no run goes yet.
        assert len(keys(engine, command_runs.c.key)) == 3
        assert keys(engine, flag_audit.c.delivery) == {"done-old"}

        # Once the old failure and the open deliveries are gone, their runs may go too.
        with engine.begin() as conn:
            conn.execute(
                sa.delete(inbox_deliveries).where(
                    inbox_deliveries.c.delivery_key.in_(
                        ["failed-recent", "pending-old", "processing-old"]
                    )
                )
            )
        purged = retention.purge(engine, dt.timedelta(days=DAYS), now=NOW)
        assert purged == retention.Purged(deliveries=0, updates=0, runs=2)
        assert keys(engine, command_runs.c.key) == {"done-new:step"}
    finally:
        engine.dispose()


def test_a_retried_delivery_is_not_purged(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        seed(engine)
        with engine.connect() as conn:
            failed_old = conn.scalar(
                sa.select(inbox_deliveries.c.id).where(
                    inbox_deliveries.c.delivery_key == "failed-old"
                )
            )
        assert inbox.retry(engine, failed_old).status == inbox.PENDING
        retention.purge(engine, dt.timedelta(days=DAYS), now=NOW)
        assert "failed-old" in keys(engine, inbox_deliveries.c.delivery_key)
    finally:
        engine.dispose()


def test_batches_bound_each_pass(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(inbox_deliveries),
                [
                    delivery(f"d{n}", inbox.DONE, received=days_ago(40), finished=days_ago(40))
                    for n in range(5)
                ],
            )
        cut = retention.purge(engine, dt.timedelta(days=DAYS), now=NOW, batch=2, max_batches=2)
        assert cut.deliveries == 4
        rest = retention.purge(engine, dt.timedelta(days=DAYS), now=NOW, batch=2)
        assert rest.deliveries == 1
        assert keys(engine, inbox_deliveries.c.delivery_key) == set()
    finally:
        engine.dispose()


def test_the_worker_job_purges_once_per_interval(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    clock = [1000.0]
    job = retention.RetentionJob(engine, days=DAYS, interval=3600, clock=lambda: clock[0])

    def add(key: str) -> None:
        old = inbox.utcnow() - dt.timedelta(days=DAYS + 1)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(inbox_deliveries), delivery(key, inbox.DONE, received=old, finished=old)
            )

    try:
        add("first")
        assert job() is False  # never counts as work: the loop keeps its pace
        assert job.last == retention.Purged(deliveries=1)
        add("second")
        clock[0] += 3599
        job()
        assert keys(engine, inbox_deliveries.c.delivery_key) == {"second"}
        clock[0] += 1
        job()
        assert job.last == retention.Purged(deliveries=1)
        assert keys(engine, inbox_deliveries.c.delivery_key) == set()
    finally:
        engine.dispose()


def test_inbox_purge_by_hand_prints_counts(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        old = inbox.utcnow() - dt.timedelta(days=10)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(inbox_deliveries),
                [
                    delivery("old", inbox.DONE, received=old, finished=old),
                    delivery("open", inbox.PENDING, received=old, finished=None),
                ],
            )
    finally:
        engine.dispose()
    cli = CliRunner(env={"ROLLOUT_BOT_DATABASE_URL": database_url, "ROLLOUT_BOT_DEFINITIONS": ""})
    kept = cli.invoke(main, ["inbox", "purge"], catch_exceptions=False)
    assert kept.exit_code == 0
    assert kept.output == retention.Purged().describe(30) + "\n"
    gone = cli.invoke(main, ["inbox", "purge", "--older-than", "7", "--json"])
    assert gone.exit_code == 0
    assert json.loads(gone.output) == {
        "older_than_days": 7.0, "deliveries": 1, "updates": 0, "runs": 0,
    }  # fmt: skip


def test_the_purge_indexes_exist_as_the_tables_declare_them(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        found = {
            table.name: {index["name"] for index in sa.inspect(engine).get_indexes(table.name)}
            for table in (inbox_deliveries, issue_updates, command_runs)
        }
    finally:
        engine.dispose()
    for table in (inbox_deliveries, issue_updates, command_runs):
        assert {index.name for index in table.indexes} <= found[table.name]
    assert "ix_command_runs_created" in found["command_runs"]
