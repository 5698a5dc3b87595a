"""What is sent for which change: fields, the flag, commit and rollback semantics.

Every test runs on SQLite and PostgreSQL, through a real tracker posting to
a loopback collector that validates every body against the Iglu schemas.
"Nothing is sent" is proven by committing a marker row afterwards: the outbox
is sent in order, so once the marker arrives alone, nothing else is coming.
"""

from __future__ import annotations

import logging
import re
import zlib

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from flags.state import FlagState
from tests.snowplow_collector import Collector
from tests.snowplow_collector.stack import (
    APP_ID,
    ENVIRONMENT,
    Stack,
    committed_values,
    new_stage,
    standard_of,
)
from tracking import FLAG, GroupStage

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_create_update_destroy_send_three_events_with_the_committed_values(stack: Stack) -> None:
    (stage,) = stack.commit(new_stage(group_id=42, relative_position=3, start_event_label_id=7))
    created = committed_values(stage)
    with stack.Session() as session:
        row = session.get_one(GroupStage, stage.id)
        row.name = "renamed"
        row.hidden = True
        session.commit()
        session.refresh(row)
        updated = committed_values(row)
        session.delete(row)
        session.commit()

    events = stack.delivered(3)

    assert [e["se_ac"] for e in events] == [
        "database_event_create",
        "database_event_update",
        "database_event_destroy",
    ]
    assert [e["se_pr"] for e in events] == ["create", "update", "destroy"]
    for event in events:
        assert event["e"] == "se"
        assert event["se_ca"] == "GroupStage"
        assert event["se_la"] == "group_stages"
        assert event["p"] == "srv"
        assert event["aid"] == APP_ID
        assert event["tna"] == "gl"
        assert event["tv"].startswith("py-")
        assert UUID.match(event["eid"])
        assert event["dtm"].isdigit() and event["stm"].isdigit()
        context = standard_of(event)
        assert context["environment"] == ENVIRONMENT
        assert context["namespace_id"] == 42
        assert set(context["extra"]) == set(GroupStage.SNOWPLOW_ATTRIBUTES)
        assert len(context["extra"]) == 13
    assert len({e["eid"] for e in events}) == 3
    assert standard_of(events[0])["extra"] == created
    assert standard_of(events[1])["extra"] == updated
    assert standard_of(events[2])["extra"] == updated
    assert updated["name"] == "renamed" and updated["hidden"] is True
    assert updated["updated_at"] != created["updated_at"]
    assert stack.outbox_depth() == 0


def test_flag_off_sends_nothing(stack: Stack) -> None:
    stack.set_flag(None)
    stack.commit(new_stage(group_id=1), new_stage(group_id=2))
    stack.set_flag(FlagState(boolean=True))
    stack.only_marker_arrives()


def test_flag_on_for_other_groups_only_sends_nothing_for_these(stack: Stack) -> None:
    stack.set_flag(FlagState(actors=frozenset({"Group:7", "Group:1"})))
    stack.commit(new_stage(group_id=8), new_stage(group_id=7), new_stage(group_id=9))
    events = stack.delivered(1)
    assert standard_of(events[0])["namespace_id"] == 7
    stack.collector.requests.clear()
    stack.only_marker_arrives()


def test_half_of_actors_tracks_exactly_the_groups_flippers_formula_selects(stack: Stack) -> None:
    groups = range(1, 201)
    # Flipper's percentage_of_actors gate, written out here on purpose.
    chosen = {g for g in groups if zlib.crc32(f"{FLAG}Group:{g}".encode()) % 100_000 < 50_000}
    assert 60 < len(chosen) < 140
    stack.set_flag(FlagState(percentage_of_actors=50))

    stack.commit(*(new_stage(group_id=g) for g in groups))

    events = stack.delivered(len(chosen))
    assert {standard_of(e)["extra"]["group_id"] for e in events} == chosen


def test_rollback_sends_nothing(stack: Stack) -> None:
    with stack.Session() as session:
        session.add(new_stage())
        session.flush()
        session.rollback()
    stack.only_marker_arrives()


def test_session_closed_mid_transaction_sends_nothing(stack: Stack) -> None:
    session = stack.Session()
    session.add(new_stage())
    session.flush()
    session.close()
    stack.only_marker_arrives()


def test_rolled_back_savepoint_drops_only_its_own_changes(stack: Stack) -> None:
    stack.enable_savepoints()
    with stack.Session() as session:
        kept = new_stage(name="kept")
        session.add(kept)
        session.flush()
        savepoint = session.begin_nested()
        session.add(new_stage(name="dropped"))
        kept.name = "renamed in the savepoint"
        session.flush()
        savepoint.rollback()
        session.commit()
        kept_id = kept.id

    (event,) = stack.delivered(1)
    assert event["se_pr"] == "create"
    assert standard_of(event)["extra"]["id"] == kept_id
    assert standard_of(event)["extra"]["name"] == "kept"


def test_released_savepoint_waits_for_the_outer_commit(stack: Stack) -> None:
    stack.enable_savepoints()
    with stack.Session() as session:
        with session.begin_nested():
            session.add(new_stage(name="in a released savepoint"))
        stack.tracker.flush(0.2)
        assert stack.collector.accepted() == []
        assert stack.tracker.snapshot().queued == 0
        session.commit()

    (event,) = stack.delivered(1)
    assert standard_of(event)["extra"]["name"] == "in a released savepoint"


def test_released_savepoint_then_outer_rollback_sends_nothing(stack: Stack) -> None:
    stack.enable_savepoints()
    with stack.Session() as session:
        with session.begin_nested():
            session.add(new_stage())
        with session.begin_nested():
            session.add(new_stage())
        session.rollback()
    stack.only_marker_arrives()


def test_nested_savepoints_roll_back_only_their_own_level(stack: Stack) -> None:
    stack.enable_savepoints()
    with stack.Session() as session:
        session.add(new_stage(name="outer"))
        with session.begin_nested():
            session.add(new_stage(name="middle"))
            inner = session.begin_nested()
            session.add(new_stage(name="inner"))
            session.flush()
            inner.rollback()
        session.commit()

    events = stack.delivered(2)
    assert sorted(standard_of(e)["extra"]["name"] for e in events) == ["middle", "outer"]


def test_a_session_in_an_external_transaction_sends_once_that_commits(stack: Stack) -> None:
    # The pattern of test suites and of applications that manage the
    # connection themselves: the session's commit ends no database transaction.
    with stack.engine.connect() as conn:
        outer = conn.begin()
        with stack.Session(bind=conn) as session:
            session.add(new_stage(name="joined"))
            session.commit()
        stack.tracker.flush(0.2)
        assert stack.collector.accepted() == []
        outer.commit()

    (event,) = stack.delivered(1)
    assert standard_of(event)["extra"]["name"] == "joined"


def test_a_session_in_an_external_transaction_rolled_back_sends_nothing(stack: Stack) -> None:
    with stack.engine.connect() as conn:
        outer = conn.begin()
        with stack.Session(bind=conn) as session:
            session.add(new_stage())
            session.commit()
        outer.rollback()
    stack.only_marker_arrives()


def test_a_connection_opened_before_install_still_carries_its_events(stack: Stack) -> None:
    with stack.engine.connect() as conn:
        tracker = stack.reinstall()
        with stack.Session(bind=conn) as session:
            session.add(new_stage(name="early connection"))
            session.commit()
    assert tracker.flush(10) == 0
    (event,) = stack.delivered(1)
    assert standard_of(event)["extra"]["name"] == "early connection"


def test_the_events_reach_the_outbox_with_the_commit(stack: Stack) -> None:
    # Seen from inside the transaction: flushes write the change, not its events.
    count = sa.text("SELECT count(*) FROM tracking_outbox")
    with stack.Session() as session:
        first, second = new_stage(name="first"), new_stage(name="second")
        session.add_all([first, second])
        session.flush()
        first.name = "first, renamed"
        session.flush()
        assert session.execute(count).scalar_one() == 0
        session.commit()
    events = stack.delivered(2)
    assert sorted(standard_of(e)["extra"]["name"] for e in events) == ["first, renamed", "second"]


def test_trackers_sharing_an_engine_each_send_their_own_and_close_cleanly(stack: Stack) -> None:
    other_sessions = sessionmaker(stack.engine)
    other = stack.install(session_factory=other_sessions)
    with other_sessions() as session:
        session.add(new_stage(name="through the other factory"))
        session.commit()
    stack.commit(new_stage(name="through the first factory"))
    assert other.close(5) == 0
    stack.commit(new_stage(name="after the other closed"))
    events = stack.delivered(3)
    assert sorted(standard_of(e)["extra"]["name"] for e in events) == [
        "after the other closed",
        "through the first factory",
        "through the other factory",
    ]
    # Only documented extension points: nothing of the dialect's is replaced,
    # while trackers run or after they close.
    assert _replaced(stack.engine) == []
    stack.tracker.close(5)
    assert _replaced(stack.engine) == []


def _replaced(engine: sa.Engine) -> list[str]:
    """Instance attributes of the engine's dialect and pool that are functions of tracking's."""
    found = []
    for owner in (engine.dialect, engine.pool):
        for name, value in vars(owner).items():
            module = getattr(getattr(value, "__func__", value), "__module__", "") or ""
            if callable(value) and module.startswith("tracking"):
                found.append(name)
    return found


def test_a_commit_failing_in_its_flush_sends_nothing(stack: Stack) -> None:
    with stack.Session() as session:
        session.add(new_stage(name="same", group_id=3))
        session.add(new_stage(name="same", group_id=3))
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
        session.rollback()
    stack.only_marker_arrives()


def test_a_commit_the_database_refuses_sends_nothing(stack: Stack) -> None:
    class Refused(Exception):
        pass

    def refuse(conn: sa.Connection) -> None:
        raise Refused("the database refused to commit")

    sa.event.listen(stack.engine, "commit", refuse)
    try:
        with stack.Session() as session:
            session.add(new_stage())
            with pytest.raises(Refused):
                session.commit()
            session.rollback()
    finally:
        sa.event.remove(stack.engine, "commit", refuse)
    stack.only_marker_arrives()


def test_an_outbox_that_refuses_the_events_fails_the_commit_and_keeps_nothing(
    stack: Stack,
) -> None:
    stack.tracker.flush(5)
    with stack.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tracking_outbox RENAME TO tracking_outbox_away")
    try:
        with stack.Session() as session:
            session.add(new_stage(name="never kept"))
            with pytest.raises(sa.exc.DBAPIError, match="tracking_outbox"):
                session.commit()
            session.rollback()
    finally:
        with stack.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE tracking_outbox_away RENAME TO tracking_outbox")
    with stack.engine.connect() as conn:
        kept = conn.scalar(sa.select(sa.func.count()).where(GroupStage.name == "never kept"))
    assert kept == 0
    stack.only_marker_arrives()


def test_an_assignment_that_changes_nothing_sends_nothing(stack: Stack) -> None:
    (stage,) = stack.commit(new_stage(name="same"))
    stack.delivered(1)
    stack.collector.requests.clear()
    with stack.Session() as session:
        row = session.get_one(GroupStage, stage.id)
        row.name = row.name
        session.commit()
        # Expired by the commit: the old value is loaded before the assignment.
        row.name = "same"
        row.hidden = False
        session.commit()
    stack.only_marker_arrives()


def test_create_then_update_in_one_transaction_is_one_create_with_the_final_values(
    stack: Stack,
) -> None:
    with stack.Session() as session:
        stage = new_stage(name="first")
        session.add(stage)
        session.flush()
        stage.name = "final"
        session.flush()
        stage.relative_position = 9
        session.commit()
        session.refresh(stage)
        final = committed_values(stage)

    (event,) = stack.delivered(1)
    assert event["se_pr"] == "create"
    assert standard_of(event)["extra"] == final
    assert stack.outbox_depth() == 0


def test_create_then_destroy_in_one_transaction_sends_nothing(stack: Stack) -> None:
    with stack.Session() as session:
        stage = new_stage()
        session.add(stage)
        session.flush()
        session.delete(stage)
        session.commit()
    stack.only_marker_arrives()


def test_updates_then_destroy_in_one_transaction_give_one_event_each(stack: Stack) -> None:
    updated, destroyed = stack.commit(new_stage(name="u"), new_stage(name="d"))
    stack.delivered(2)
    stack.collector.requests.clear()
    with stack.Session() as session:
        row = session.get_one(GroupStage, updated.id)
        row.name = "u2"
        session.flush()
        row.name = "u3"
        gone = session.get_one(GroupStage, destroyed.id)
        gone.name = "d2"
        session.flush()
        session.delete(gone)
        session.commit()

    events = stack.delivered(2)
    by_op = {e["se_pr"]: standard_of(e)["extra"] for e in events}
    assert set(by_op) == {"update", "destroy"}
    assert by_op["update"]["name"] == "u3"
    assert by_op["destroy"]["id"] == destroyed.id
    assert by_op["destroy"]["name"] == "d2"


def test_bulk_statements_bypass_tracking_and_say_so(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    (stage,) = stack.commit(new_stage())
    stack.delivered(1)
    stack.collector.requests.clear()
    with caplog.at_level(logging.WARNING, logger="tracking.session_listeners"):
        with stack.Session() as session:
            session.execute(
                sa.update(GroupStage).where(GroupStage.id == stage.id).values(name="bulk")
            )
            session.execute(sa.delete(GroupStage).where(GroupStage.id == stage.id))
            session.commit()
    assert "bulk update on GroupStage bypasses the unit of work" in caplog.text
    assert "bulk delete on GroupStage bypasses the unit of work" in caplog.text
    stack.only_marker_arrives()


def test_every_body_validates_against_the_iglu_schemas(stack: Stack, collector: Collector) -> None:
    stack.commit(*(new_stage(group_id=g, relative_position=None) for g in (1, 2_147_483_648)))
    stack.delivered(2)
    assert collector.errors == []
