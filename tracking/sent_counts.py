"""Per-hour counts of the events the collector accepted, by tracked table and operation.

Written by the transaction that settles a chunk (`claims`), so an event is
counted exactly once, by the sender that deleted its row. Read by `/metrics`
(`rollout_bot_tracking_events_sent_total{table,op}`) and by dashboards that
want a rate per hour. The outbox's rows are deleted once sent; these counts
stay.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from tracking.schema import sent_hourly

# The stored payload is json.dumps output: the label is the table, the
# property the operation (tracking.payload). A regex finds them without
# parsing the whole payload on the sender's hot path.
_LABEL = re.compile(r'"se_la":\s*"([^"\\]*)"')
_PROPERTY = re.compile(r'"se_pr":\s*"([^"\\]*)"')
UNKNOWN = "unknown"


def table_and_op(payload: str) -> tuple[str, str]:
    label, prop = _LABEL.search(payload), _PROPERTY.search(payload)
    return (label.group(1) if label else UNKNOWN, prop.group(1) if prop else UNKNOWN)


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def add(conn: Connection, payloads: Sequence[str], now: dt.datetime) -> None:
    """Add these sent events to the current hour's counts, in `conn`'s transaction."""
    if not payloads:
        return
    hour = hour_of(now)
    counts = Counter(table_and_op(payload) for payload in payloads)
    # Sorted: concurrent settlements take the rows' locks in one order, never a deadlock.
    rows = [
        {"hour": hour, "table_name": table, "op": op, "events": count}
        for (table, op), count in sorted(counts.items())
    ]
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        insert = postgresql.insert if name == "postgresql" else sqlite.insert
        statement = insert(sent_hourly)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[sent_hourly.c.hour, sent_hourly.c.table_name, sent_hourly.c.op],
                set_={"events": sent_hourly.c.events + statement.excluded.events},
            ),
            rows,
        )
        return
    for row in rows:  # any other database: update, else insert
        key = (
            (sent_hourly.c.hour == row["hour"])
            & (sent_hourly.c.table_name == row["table_name"])
            & (sent_hourly.c.op == row["op"])
        )
        updated = conn.execute(
            sa.update(sent_hourly).where(key).values(events=sent_hourly.c.events + row["events"])
        ).rowcount
        if not updated:
            conn.execute(sa.insert(sent_hourly).values(row))


@dataclass(frozen=True)
class HourCount:
    hour: dt.datetime
    table: str
    op: str
    events: int


def totals(engine: Engine) -> dict[tuple[str, str], int]:
    """Events sent since counting began, by (table, op)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sent_hourly.c.table_name, sent_hourly.c.op, sa.func.sum(sent_hourly.c.events))
            .group_by(sent_hourly.c.table_name, sent_hourly.c.op)
            .order_by(sent_hourly.c.table_name, sent_hourly.c.op)
        ).all()
    return {(table, op): int(events) for table, op, events in rows}


def by_hour(engine: Engine, since: dt.datetime) -> list[HourCount]:
    """The hourly counts from `since` on, oldest first (for a dashboard)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sent_hourly)
            .where(sent_hourly.c.hour >= hour_of(since))
            .order_by(sent_hourly.c.hour, sent_hourly.c.table_name, sent_hourly.c.op)
        ).all()
    return [
        HourCount(
            hour=row.hour if row.hour.tzinfo else row.hour.replace(tzinfo=dt.UTC),
            table=row.table_name,
            op=row.op,
            events=int(row.events),
        )
        for row in rows
    ]
