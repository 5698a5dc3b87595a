"""A database, the flag, a collector and an installed tracker, for tracking tests."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from flags.database import sqlite_transactions
from flags.engine import Flags
from flags.sql_store import SqlStore
from flags.state import FlagState
from tests.snowplow_collector import Collector
from tracking import FLAG, GroupStage, SenderSettings, Tracker, install
from tracking.payload import jsonable

ON = FlagState(boolean=True)
ENVIRONMENT = "production"
APP_ID = "rollout-bot-test"

# Short waits everywhere: the whole tracking suite must run in well under a minute.
FAST = SenderSettings(
    batch_size=100,
    connect_timeout=1.0,
    read_timeout=2.0,
    backoff_base=0.02,
    backoff_cap=0.1,
    idle_interval=0.05,
    linger=0.01,
    report_interval=0.05,
    lease=3.0,
)

_names = itertools.count()


def new_stage(group_id: int = 1, **values: Any) -> GroupStage:
    defaults: dict[str, Any] = {
        "name": f"stage {next(_names)}",
        "start_event_identifier": 1,
        "end_event_identifier": 2,
        "group_value_stream_id": 10,
    }
    return GroupStage(group_id=group_id, **{**defaults, **values})


def committed_values(stage: GroupStage) -> dict[str, Any]:
    return {key: jsonable(getattr(stage, key)) for key in GroupStage.SNOWPLOW_ATTRIBUTES}


def event_id(payload: str) -> str:
    return str(json.loads(payload)["eid"])


def contexts_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    raw = event["cx"]
    envelope = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    data: list[dict[str, Any]] = envelope["data"]
    return data


def standard_of(event: dict[str, Any]) -> dict[str, Any]:
    (context,) = contexts_of(event)
    data: dict[str, Any] = context["data"]
    return data


@dataclass
class Stack:
    url: str
    engine: sa.Engine
    Session: sessionmaker[Session]
    store: SqlStore
    flags: Flags
    collector: Collector
    trackers: list[Tracker] = field(default_factory=list)
    # More engines a test made; disposed at teardown, once every sender has stopped.
    engines: list[sa.Engine] = field(default_factory=list)

    @property
    def tracker(self) -> Tracker:
        return self.trackers[0]

    def install(self, **options: Any) -> Tracker:
        kwargs: dict[str, Any] = {
            "collector": self.collector.url,
            "app_id": APP_ID,
            "flags": self.flags,
            "settings": FAST,
        }
        kwargs.update(options)
        session_factory = kwargs.pop("session_factory", self.Session)
        tracker = install(session_factory, **kwargs)
        self.trackers.append(tracker)
        return tracker

    def reinstall(self, **options: Any) -> Tracker:
        """Replace the fixture's tracker by one installed with these options."""
        for tracker in self.trackers:
            tracker.close(1.0)
        self.trackers.clear()
        return self.install(**options)

    def enable_savepoints(self) -> None:
        sqlite_savepoints(self.engine)

    def set_flag(self, state: FlagState | None) -> None:
        with self.store.transaction() as tx:
            tx.put(ENVIRONMENT, FLAG, state)
        self.flags.refresh()

    def commit(self, *stages: GroupStage) -> list[GroupStage]:
        with self.Session() as session:
            session.add_all(stages)
            session.commit()
            for stage in stages:
                session.refresh(stage)
        return list(stages)

    def marker(self) -> GroupStage:
        """One tracked create: once it arrives, everything committed before it has too."""
        (stage,) = self.commit(new_stage(group_id=1, name=f"marker {next(_names)}"))
        return stage

    def delivered(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Flush, then the accepted events; exactly `count` of them."""
        assert self.tracker.flush(timeout) == 0
        events = self.collector.wait_for(count, timeout)
        assert len(events) == count, [e["se_ac"] for e in events]
        return events

    def only_marker_arrives(self) -> None:
        marker = self.marker()
        (event,) = self.delivered(1)
        assert standard_of(event)["extra"]["id"] == marker.id

    def outbox_depth(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT count(*) FROM tracking_outbox")) or 0)


def sqlite_savepoints(engine: sa.Engine) -> None:
    """Savepoints that work on SQLite: see flags.database.sqlite_transactions."""
    sqlite_transactions(engine)
