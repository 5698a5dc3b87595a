"""What durable tracking costs a writer, and how fast the outbox drains.

Run as ``.venv/bin/python bench/tracking_overhead.py`` from the repository
root; it takes about a minute. PostgreSQL is used when reachable (the test
server, ``ROLLOUT_BOT_TEST_POSTGRES``); its figures are null otherwise.

**Writes.** Committed ``group_stages`` writes per second, one row per commit
through the ORM, in alternating rounds (the order rotates every round) of:

* **untracked**: a plain sessionmaker, nothing installed;
* **tracked**: ``tracking.install()`` on the sessionmaker, the flag on for the
  row's group, durable mode: the event is built in the flush and written to
  the outbox in the session's ``before_commit`` by a Core insert on the
  session's connection (one more statement, and on PostgreSQL one more round
  trip, before the COMMIT), while the sender delivers in the background;
* **anchor**: untracked, plus one bare INSERT of a payload-sized row into a
  table shaped like the outbox, in the same transaction: the least any
  transactional outbox can cost;
* **flag off**: installed, but the flag is off for the row's group.

A rate is the median of its rounds. A ratio is the median, over rounds, of
the contender's rate against untracked in the same round (target: tracked
>= 0.75; the anchor shows the floor's cost on this machine); the ratio of
the medians is printed too.
Every tracked event must reach the collector afterwards.

**Delivery.** Events per second from a filled outbox to the loopback
collector, against a bare snowplow-tracker ``Emitter`` loop posting the same
payloads with the same batch size and a reused ``requests.Session``
(target: ours >= 0.5 of it). Every event must arrive exactly once.

The collector is the test suite's fake (``python -m tests.snowplow_collector
--no-validate``) in a process of its own, so its work is not this process's.
The script never fails on timing; it exits non-zero only when an event goes
missing. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.engine import Flags
from flags.sql_store import SqlStore
from flags.state import FlagState
from rollout_bot.database import upgrade
from tracking import FLAG, GroupStage, SenderSettings, install, outbox
from tracking.payload import PayloadBuilder

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "ROLLOUT_BOT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROUNDS = 9
WRITES_PER_ROUND = 300
DELIVERY_ROUNDS = 5
EVENTS_PER_DELIVERY = 10_000
BATCH_SIZE = 100
TRACKED_GROUP = 1
UNTRACKED_GROUP = 2
SETTINGS = SenderSettings(batch_size=BATCH_SIZE)

scratch = sa.MetaData()
# The anchor's table: the outbox's shape, nobody reading it.
bench_extra = sa.Table(
    "bench_extra",
    scratch,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class Collector:
    """The fake collector in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.snowplow_collector", "--no-validate"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        self._http = requests.Session()

    def stats(self) -> dict[str, int]:
        response = self._http.get(f"{self.url}/stats", timeout=10)
        data: dict[str, int] = response.json()
        return data

    def close(self) -> None:
        self._http.close()
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def stage(group_id: int, n: int) -> GroupStage:
    return GroupStage(
        group_id=group_id,
        name=f"bench {uuid.uuid4().hex}",
        start_event_identifier=1,
        end_event_identifier=2,
        group_value_stream_id=n,
        relative_position=n,
    )


def write_rate(make_session: sessionmaker[Session], group_id: int, extra: str | None) -> float:
    started = time.perf_counter()
    for n in range(WRITES_PER_ROUND):
        with make_session() as session:
            session.add(stage(group_id, n))
            if extra is not None:
                session.execute(
                    sa.insert(bench_extra).values(payload=extra, created_at=dt.datetime.now(dt.UTC))
                )
            session.commit()
    return WRITES_PER_ROUND / (time.perf_counter() - started)


def writes(engine: sa.Engine, flags: Flags, collector: Collector) -> dict[str, Any]:
    scratch.create_all(engine)
    tracked_sessions = sessionmaker(engine)
    tracker = install(
        tracked_sessions, collector=collector.url, app_id="bench", flags=flags, settings=SETTINGS
    )
    plain = sessionmaker(engine)
    payload = PayloadBuilder(app_id="bench", environment="production").build(
        category="GroupStage",
        op="create",
        label="group_stages",
        extra={key: 1 for key in GroupStage.SNOWPLOW_ATTRIBUTES},
        namespace_id=1,
    )
    contenders: dict[str, Callable[[], float]] = {
        "untracked": lambda: write_rate(plain, TRACKED_GROUP, None),
        "tracked": lambda: write_rate(tracked_sessions, TRACKED_GROUP, None),
        "anchor": lambda: write_rate(plain, TRACKED_GROUP, payload),
        "flag_off": lambda: write_rate(tracked_sessions, UNTRACKED_GROUP, None),
    }
    before = collector.stats()["accepted_events"]
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(ROUNDS):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            rates[name].append(contenders[name]())
            # Untimed: what the sender still has to send must not slow the next contender.
            tracker.flush(60)
    left = tracker.close(60)
    arrived = collector.stats()["accepted_events"] - before
    medians = {name: statistics.median(values) for name, values in rates.items()}

    def paired(name: str) -> float:
        # Each round's own ratio: a machine that slows down for a while slows
        # both sides of a round alike, and drops out of its ratio.
        ratios = [a / b for a, b in zip(rates[name], rates["untracked"], strict=True)]
        return round(statistics.median(ratios), 3)

    return {
        "writes_per_second": {name: round(value, 1) for name, value in medians.items()},
        "tracked_vs_untracked": paired("tracked"),
        "anchor_vs_untracked": paired("anchor"),
        "flag_off_vs_untracked": paired("flag_off"),
        "tracked_vs_untracked_of_medians": round(medians["tracked"] / medians["untracked"], 3),
        "rounds": {name: [round(value) for value in values] for name, values in rates.items()},
        "tracked_events": ROUNDS * WRITES_PER_ROUND,
        "tracked_events_arrived": arrived,
        "tracked_events_left": left,
    }


def payloads(builder: PayloadBuilder, count: int) -> list[str]:
    extra = {key: 1 for key in GroupStage.SNOWPLOW_ATTRIBUTES}
    return [
        builder.build(
            category="GroupStage", op="create", label="group_stages", extra=extra, namespace_id=1
        )
        for _ in range(count)
    ]


def ours(engine: sa.Engine, flags: Flags, collector: Collector, events: list[str]) -> float:
    with engine.begin() as conn:
        for start in range(0, len(events), 1_000):
            outbox.insert(conn, events[start : start + 1_000])
    tracker = install(
        sessionmaker(engine),
        collector=collector.url,
        app_id="bench",
        flags=flags,
        settings=SETTINGS,
    )
    started = time.perf_counter()
    tracker.start()
    left = tracker.flush(120)
    elapsed = time.perf_counter() - started
    tracker.close(10)
    if left:
        raise SystemExit(f"FAIL: {left} events left in the outbox")
    return len(events) / elapsed


def bare(collector: Collector, events: list[str]) -> float:
    from snowplow_tracker.emitters import Emitter

    logging.getLogger("snowplow_tracker.emitters").setLevel(logging.WARNING)
    decoded = [json.loads(event) for event in events]
    with requests.Session() as http:
        emitter = Emitter(collector.url, batch_size=BATCH_SIZE, session=http)
        started = time.perf_counter()
        for event in decoded:
            emitter.input(event)
        emitter.flush()
        return len(events) / (time.perf_counter() - started)


def delivery(engine: sa.Engine, flags: Flags, collector: Collector) -> dict[str, Any]:
    builder = PayloadBuilder(app_id="bench", environment="production")
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    before = collector.stats()
    for round_ in range(DELIVERY_ROUNDS):
        order = ["ours", "bare"] if round_ % 2 == 0 else ["bare", "ours"]
        for name in order:
            events = payloads(builder, EVENTS_PER_DELIVERY)
            rate = (
                ours(engine, flags, collector, events)
                if name == "ours"
                else bare(collector, events)
            )
            rates[name].append(rate)
    after = collector.stats()
    sent = 2 * DELIVERY_ROUNDS * EVENTS_PER_DELIVERY
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "events_per_second": {name: round(value, 1) for name, value in medians.items()},
        "ours_vs_bare": round(medians["ours"] / medians["bare"], 3),
        "events": sent,
        "events_arrived": after["accepted_events"] - before["accepted_events"],
        "unique_event_ids_arrived": after["unique_event_ids"] - before["unique_event_ids"],
    }


def run(url: str, collector: Collector) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    try:
        store = SqlStore(engine)
        with store.transaction() as tx:
            tx.put("production", FLAG, FlagState(actors=frozenset({f"Group:{TRACKED_GROUP}"})))
        flags = Flags(store, load(configured_roots()), "production")
        return {
            "writes": writes(engine, flags, collector),
            "delivery": delivery(engine, flags, collector),
        }
    finally:
        engine.dispose()


@contextmanager
def postgres_database() -> Iterator[str | None]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rollout_bot_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL not reachable ({str(exc).splitlines()[0]}); its figures are null")
        admin.dispose()
        yield None
        return
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def report(kind: str, figures: dict[str, Any]) -> list[str]:
    w, d = figures["writes"], figures["delivery"]
    rate = w["writes_per_second"]
    return [
        f"{kind}: writes/s untracked {rate['untracked']:,.0f}, tracked {rate['tracked']:,.0f},"
        f" anchor {rate['anchor']:,.0f}, flag off {rate['flag_off']:,.0f}",
        f"  tracked_vs_untracked  = {w['tracked_vs_untracked']:.3f}  (target >= 0.75;"
        f" ratio of the medians {w['tracked_vs_untracked_of_medians']:.3f})",
        f"  anchor_vs_untracked   = {w['anchor_vs_untracked']:.3f}  (a bare extra insert)",
        f"  flag_off_vs_untracked = {w['flag_off_vs_untracked']:.3f}",
        f"  tracked events {w['tracked_events']:,}, arrived {w['tracked_events_arrived']:,},"
        f" left {w['tracked_events_left']}",
        f"{kind}: delivery events/s ours {d['events_per_second']['ours']:,.0f},"
        f" bare Emitter {d['events_per_second']['bare']:,.0f} (batch {BATCH_SIZE})",
        f"  ours_vs_bare = {d['ours_vs_bare']:.3f}  (target >= 0.5);"
        f" {d['events_arrived']:,} of {d['events']:,} arrived,"
        f" {d['unique_event_ids_arrived']:,} unique ids",
    ]


def main() -> None:
    collector = Collector()
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            results["sqlite"] = run(f"sqlite:///{folder}/bench.sqlite3", collector)
        with postgres_database() as pg_url:
            results["postgresql"] = None if pg_url is None else run(pg_url, collector)
    finally:
        collector.close()
    missing = []
    for kind, figures in results.items():
        if figures is None:
            continue
        print("\n".join(report(kind, figures)))
        w, d = figures["writes"], figures["delivery"]
        if w["tracked_events_arrived"] != w["tracked_events"]:
            missing.append(f"{kind}: tracked events arrived {w['tracked_events_arrived']}")
        if d["events_arrived"] != d["events"] or d["unique_event_ids_arrived"] != d["events"]:
            missing.append(
                f"{kind}: delivered {d['events_arrived']}/{d['unique_event_ids_arrived']}"
            )
    settings = dataclasses.asdict(SETTINGS)
    print(
        json.dumps(
            {"rounds": ROUNDS, "writes_per_round": WRITES_PER_ROUND, "sender": settings, **results}
        )
    )
    if missing:
        print("FAIL: " + "; ".join(missing), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
