"""Installing tracking: the schema and its migration, any model, the payload alone."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

import tracking
from flags.definitions import configured_roots, load
from flags.engine import Flags
from flags.memory_store import MemoryStore
from flags.sql_store import SqlStore
from flags.state import FlagState
from tests.snowplow_collector import Collector
from tests.snowplow_collector.iglu import GITLAB_STANDARD, IgluSchemas
from tests.snowplow_collector.stack import APP_ID, FAST, contexts_of, standard_of
from tracking import FLAG, DatabaseEventTracking, TrackingRefused, create_tables, install
from tracking.payload import Op, PayloadBuilder, jsonable
from tracking.refusals import TWO_PHASE_REFUSED
from tracking.schema import metadata


def test_the_migration_creates_exactly_the_tracking_metadata(database_url: str) -> None:
    def ours(name: str | None, kind: str, parents: object) -> bool:
        return kind != "table" or name in metadata.tables

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": ours})
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diffs == []


class HostBase(DeclarativeBase):
    pass


class Widget(DatabaseEventTracking, HostBase):
    """A host application's model: tracked, with a column that must never leave."""

    __tablename__ = "widgets"
    SNOWPLOW_ATTRIBUTES: ClassVar[tuple[str, ...]] = ("id", "namespace", "label", "made_at")
    SNOWPLOW_GROUP_ATTRIBUTE: ClassVar[str | None] = "namespace"

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[int]
    label: Mapped[str]
    secret: Mapped[str]
    made_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)


def test_any_declared_model_is_tracked_in_a_host_database(
    tmp_path: Path, collector: Collector
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.sqlite3'}")
    HostBase.metadata.create_all(engine)
    create_tables(engine)
    create_tables(engine)  # where missing only
    store = MemoryStore()
    with store.transaction() as tx:
        tx.put("staging", FLAG, FlagState(actors=frozenset({"Group:5"})))
    flags = Flags(store, load(configured_roots()), "staging")
    Session = sessionmaker(engine)
    tracker = install(
        Session,
        collector=collector.url,
        app_id=APP_ID,
        flags=flags,
        environment="staging",
        settings=FAST,
    )
    try:
        naive = dt.datetime(2026, 11, 26, 12, 30, 15, 250_000)
        with Session() as session:
            session.add(Widget(id=1, namespace=5, label="tracked", secret="s3cret", made_at=naive))
            session.add(
                Widget(id=2, namespace=6, label="not this group", secret="x", made_at=naive)
            )
            session.commit()
        assert tracker.flush(5) == 0
    finally:
        assert tracker.close(2) == 0
        engine.dispose()

    (event,) = collector.accepted()
    assert (event["se_ca"], event["se_la"], event["se_pr"]) == ("Widget", "widgets", "create")
    context = standard_of(event)
    assert context["environment"] == "staging"
    assert context["namespace_id"] == 5
    assert context["extra"] == {
        "id": 1,
        "namespace": 5,
        "label": "tracked",
        "made_at": "2026-11-26T12:30:15.250000+00:00",
    }


def test_install_refuses_a_database_without_the_outbox(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    flags = Flags(MemoryStore(), load(configured_roots()))
    try:
        with pytest.raises(RuntimeError, match="tracking_outbox is missing"):
            install(sessionmaker(engine), collector="http://127.0.0.1:9", app_id="a", flags=flags)
        with pytest.raises(TypeError, match="flags="):
            install(sessionmaker(engine), collector="http://127.0.0.1:9", app_id="a")
        create_tables(engine)
        with pytest.raises(TrackingRefused, match=re.escape(TWO_PHASE_REFUSED)):
            install(
                sessionmaker(engine, twophase=True),
                collector="http://127.0.0.1:9",
                app_id="a",
                flags=flags,
            )
    finally:
        engine.dispose()


def test_install_reads_the_flag_from_a_database_url(sqlite_url: str, collector: Collector) -> None:
    engine = sa.create_engine(sqlite_url)
    with SqlStore(engine).transaction() as tx:
        tx.put("production", FLAG, FlagState(boolean=True))
    Session = sessionmaker(engine)
    tracker = install(
        Session, collector=collector.url, app_id=APP_ID, flags_url=sqlite_url, settings=FAST
    )
    try:
        with Session() as session:
            session.add(
                tracking.GroupStage(
                    group_id=1,
                    name="n",
                    start_event_identifier=1,
                    end_event_identifier=2,
                    group_value_stream_id=3,
                )
            )
            session.commit()
        assert tracker.flush(5) == 0
    finally:
        tracker.close(2)
        engine.dispose()
    assert len(collector.accepted()) == 1


def test_the_payload_alone_matches_the_iglu_schemas() -> None:
    builder = PayloadBuilder(app_id="app", environment="production")
    payload = json.loads(
        builder.build(
            category="GroupStage",
            op="update",
            label="group_stages",
            extra={"id": 1, "name": "é", "hidden": False, "relative_position": None},
            namespace_id=3_000_000_000,
        )
    )
    schemas = IgluSchemas()
    assert schemas.payload_problems([payload]) == []
    assert all(isinstance(value, str) for value in payload.values())
    (context,) = contexts_of(payload)
    assert context["schema"] == GITLAB_STANDARD
    assert schemas.standard_problems(context["data"]) == []
    assert context["data"]["namespace_id"] is None  # beyond the schema's 32-bit ids
    assert context["data"]["extra"]["name"] == "é"


@pytest.mark.parametrize("op", ["create", "update", "destroy"])
@pytest.mark.parametrize(
    "extra",
    [
        {"id": 1, "name": "plain", "hidden": False, "relative_position": None},
        {"id": 2, "name": 'quotes " and \\ backslashes, é and 😀', "custom": True},
        {},
    ],
)
def test_every_payload_is_the_one_snowplow_trackers_complete_payload_builds(
    op: Op, extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from snowplow_tracker.tracker import Tracker

    event_id, timestamp = "0b6a0e3e-7f3c-4f63-9d55-3a2d4f2c1a10", 1_795_000_000_123
    monkeypatch.setattr(Tracker, "get_uuid", staticmethod(lambda: event_id))
    monkeypatch.setattr(Tracker, "get_timestamp", staticmethod(lambda tstamp=None: timestamp))
    builder = PayloadBuilder(app_id="app", environment="staging", source="host")

    ours = json.loads(
        builder.build(
            category="GroupStage", op=op, label="group_stages", extra=extra, namespace_id=9
        )
    )

    # The reference: snowplow-tracker's own complete_payload, on the same context.
    (sent_context,) = contexts_of(ours)
    context = builder.context(extra=extra, namespace_id=9)
    context.data["context_generated_at"] = sent_context["data"]["context_generated_at"]
    event = builder.event(category="GroupStage", op=op, label="group_stages", contexts=[context])
    reference = builder._tracker.complete_payload(event).nv_pairs
    assert ours == {key: str(value) for key, value in reference.items()}
    assert sent_context["data"]["extra"] == extra


def test_datetimes_become_iso_8601_in_utc() -> None:
    cest = dt.timezone(dt.timedelta(hours=2))
    assert jsonable(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=cest)) == "2026-01-02T01:04:05+00:00"
    assert jsonable(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05+00:00"
    assert jsonable(dt.date(2026, 1, 2)) == "2026-01-02"
    assert jsonable(7) == 7


def test_importing_tracking_does_nothing() -> None:
    code = (
        "import logging, threading, sys; import tracking; "
        "assert not logging.getLogger().handlers, logging.getLogger().handlers; "
        "assert threading.active_count() == 1; "
        "assert 'snowplow_tracker' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
