"""How events join the commit: documented extension points only, errors as the driver made them.

The outbox rows are written in the session's `before_commit` with a Core insert
on the session's own connection. These tests hold that to what an application
sees: errors at commit keep their class and sqlstate, SQL listeners see the
insert, pool and isolation settings give no phantom event, and the sessions
durable tracking cannot follow are refused before they write anything.
Every test runs on SQLite and PostgreSQL unless its parameters say otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tests.snowplow_collector.stack import Stack, new_stage, standard_of
from tracking import GroupStage, TrackingRefused
from tracking.refusals import AUTOCOMMIT_REFUSED, TWO_PHASE_REFUSED

POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _rows_named(engine: sa.Engine, name: str) -> int:
    with engine.connect() as conn:
        statement = sa.select(sa.func.count()).where(GroupStage.name == name)
        return int(conn.scalar(statement) or 0)


@contextmanager
def _deferred_child(engine: sa.Engine) -> Iterator[sa.Table]:
    """A table whose foreign key to group_stages is only checked at COMMIT."""
    metadata = sa.MetaData()
    metadata.reflect(engine, only=["group_stages"])  # the server's table, for the key
    table = sa.Table(
        "commit_test_children",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "stage_id",
            sa.Integer,
            sa.ForeignKey("group_stages.id", deferrable=True, initially="DEFERRED"),
            nullable=False,
        ),
    )
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateTable(table))
    try:
        yield table
    finally:
        with engine.begin() as conn:
            conn.execute(sa.schema.DropTable(table))


def test_a_deferred_foreign_key_violated_at_commit_keeps_its_class_and_sqlstate(
    stack: Stack,
) -> None:
    with _deferred_child(stack.engine) as children:
        with stack.Session() as session:
            session.add(new_stage(name="committed with a dangling child"))
            session.execute(sa.insert(children).values(stage_id=-1))
            session.flush()  # the child is accepted now: the key is checked at COMMIT
            with pytest.raises(sa.exc.IntegrityError) as caught:
                session.commit()
            session.rollback()
    if stack.engine.dialect.name == "postgresql":
        assert caught.value.orig.sqlstate == "23503"  # type: ignore[union-attr]
    assert "FOREIGN KEY" in str(caught.value).upper()
    assert _rows_named(stack.engine, "committed with a dangling child") == 0
    stack.only_marker_arrives()


@POSTGRES_ONLY
def test_a_serialization_failure_surfaces_with_40001(stack: Stack) -> None:
    serializable = stack.engine.execution_options(isolation_level="SERIALIZABLE")

    def in_group(group_id: int) -> sa.Select[Any]:
        return sa.select(sa.func.count()).where(GroupStage.group_id == group_id)

    with stack.Session(bind=serializable) as first, stack.Session(bind=serializable) as second:
        # Write skew: each reads the group the other writes.
        first.scalar(in_group(1))
        second.scalar(in_group(2))
        first.add(new_stage(group_id=2, name="first writer"))
        second.add(new_stage(group_id=1, name="second writer"))
        first.flush()
        second.flush()
        first.commit()
        with pytest.raises(sa.exc.OperationalError) as caught:
            second.commit()
        second.rollback()
    assert caught.value.orig.sqlstate == "40001"  # type: ignore[union-attr]
    (event,) = stack.delivered(1)
    assert standard_of(event)["extra"]["name"] == "first writer"
    stack.collector.requests.clear()
    stack.only_marker_arrives()


def test_a_before_cursor_execute_listener_sees_the_outbox_insert(stack: Stack) -> None:
    seen: list[tuple[str, Any]] = []

    def record(
        conn: sa.Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        seen.append((statement, parameters))

    sa.event.listen(stack.engine, "before_cursor_execute", record)
    try:
        stack.commit(new_stage(name="watched"))
    finally:
        sa.event.remove(stack.engine, "before_cursor_execute", record)
    inserts = [statement.split("(")[0].strip() for statement, _ in seen if "INSERT" in statement]
    assert inserts == ["INSERT INTO group_stages", "INSERT INTO tracking_outbox"]
    (outbox_parameters,) = [p for s, p in seen if "INSERT INTO tracking_outbox" in s]
    assert "database_event_create" in str(outbox_parameters)
    (event,) = stack.delivered(1)
    assert standard_of(event)["extra"]["name"] == "watched"


def test_no_phantom_event_when_the_pool_resets_connections_with_a_commit(stack: Stack) -> None:
    engine = sa.create_engine(stack.url, pool_reset_on_return="commit")
    # Its tracker's sender reads through it: disposed at teardown, after the senders stop.
    stack.engines.append(engine)
    resetting = sessionmaker(engine)
    stack.install(session_factory=resetting)
    session = resetting()
    session.add(new_stage(name="flushed, never committed"))
    session.flush()
    session.close()  # back to the pool, which COMMITs the connection
    assert _rows_named(stack.engine, "flushed, never committed") == 0
    stack.only_marker_arrives()


def test_autocommit_engines_are_refused_at_install(stack: Stack) -> None:
    engines = [
        sa.create_engine(stack.url, isolation_level="AUTOCOMMIT"),
        stack.engine.execution_options(isolation_level="AUTOCOMMIT"),
    ]
    for engine in engines:
        with pytest.raises(TrackingRefused, match=re.escape(AUTOCOMMIT_REFUSED)):
            stack.install(session_factory=sessionmaker(engine))
    engines[0].dispose()


def test_an_autocommit_connection_is_refused_at_its_first_tracked_flush(stack: Stack) -> None:
    with stack.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        with stack.Session(bind=conn) as session:
            session.add(new_stage(name="autocommitted"))
            with pytest.raises(TrackingRefused, match=re.escape(AUTOCOMMIT_REFUSED)):
                session.flush()
            session.rollback()
    assert _rows_named(stack.engine, "autocommitted") == 0
    stack.only_marker_arrives()


def test_a_two_phase_session_is_refused_at_its_first_tracked_flush_or_commit(stack: Stack) -> None:
    for end in (Session.flush, Session.commit):
        with stack.Session(twophase=True) as session:
            session.add(new_stage(name=f"two-phase {end.__name__}"))
            with pytest.raises(TrackingRefused, match=re.escape(TWO_PHASE_REFUSED)):
                end(session)
            session.rollback()
        assert _rows_named(stack.engine, f"two-phase {end.__name__}") == 0
    stack.only_marker_arrives()


def test_a_row_added_by_a_later_before_commit_listener_is_sent_too(stack: Stack) -> None:
    added: list[str] = []

    def add_one(session: Session) -> None:
        if not added:
            added.append("late")
            session.add(new_stage(name="added in before_commit"))

    sa.event.listen(stack.Session, "before_commit", add_one)
    try:
        stack.commit(new_stage(name="committed"))
    finally:
        sa.event.remove(stack.Session, "before_commit", add_one)
    events = stack.delivered(2)
    names = sorted(standard_of(e)["extra"]["name"] for e in events)
    assert names == ["added in before_commit", "committed"]


def test_committing_the_transaction_with_a_savepoint_still_open_sends_both(stack: Stack) -> None:
    stack.enable_savepoints()
    with stack.Session() as session:
        with session.begin():
            session.add(new_stage(name="outer"))
            session.begin_nested()
            session.add(new_stage(name="in the open savepoint"))
        # Leaving begin() committed the transaction, releasing the savepoint on the way.
    events = stack.delivered(2)
    assert sorted(standard_of(e)["extra"]["name"] for e in events) == [
        "in the open savepoint",
        "outer",
    ]
