"""The durable inbox: deliveries live in the database until a worker is done with them.

A worker claims the oldest ready delivery of an issue that has no earlier
delivery still open, so one issue's deliveries run in arrival order while other
issues run in parallel. A claim is a lease: a worker that dies leaves its
delivery to be claimed again when the lease runs out. The claim is one
`UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`, so any
number of workers and `serve` processes share one inbox (SQLite serializes the
statement; PostgreSQL skips rows another claim holds).

Lease times are the database's: on PostgreSQL `now()` (workers on hosts whose
clocks disagree still agree on when a lease ran out); SQLite is a file on this
host, so its clock is this host's. A worker renews its lease while it runs a
delivery (`renew`, `webhook.lease`), and every write after the claim is fenced
by the owner's name.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from webhook.schema import inbox_deliveries as inbox

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
OPEN = (PENDING, PROCESSING)


class InboxError(Exception):
    """An operator asked for something the inbox cannot do; the message says why."""


@dataclass(frozen=True)
class Delivery:
    id: int
    delivery_key: str
    kind: str
    project_id: int | None
    issue_iid: int | None
    event_uuid: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    received_at: dt.datetime
    last_error: str | None
    locked_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_key": self.delivery_key,
            "kind": self.kind,
            "project_id": self.project_id,
            "issue_iid": self.issue_iid,
            "status": self.status,
            "attempts": self.attempts,
            "received_at": self.received_at.isoformat(),
            "last_error": self.last_error,
        }


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        delivery_key=row.delivery_key,
        kind=row.kind,
        project_id=row.project_id,
        issue_iid=row.issue_iid,
        event_uuid=row.event_uuid,
        payload=json.loads(row.payload),
        status=row.status,
        attempts=row.attempts,
        received_at=aware(row.received_at),
        last_error=row.last_error,
        locked_by=row.locked_by,
    )


_COLUMNS = (
    "delivery_key", "kind", "project_id", "issue_iid", "issue_key", "event_uuid", "payload",
    "received_at", "status", "attempts", "next_attempt_at",
)  # fmt: skip
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@functools.cache
def _driver_sql(dialect: Dialect) -> tuple[str, Callable[[dt.datetime], Any]]:
    """The enqueue INSERT as the driver takes it, and how the driver wants datetimes."""
    placeholder = _PLACEHOLDER[dialect.paramstyle]
    sql = (
        f"INSERT INTO {inbox.name} ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([placeholder] * len(_COLUMNS))}) ON CONFLICT DO NOTHING"
    )
    process = inbox.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
    return sql, process or (lambda value: value)


def store(
    engine: Engine,
    *,
    delivery_key: str,
    kind: str,
    project_id: int | None,
    issue_iid: int | None,
    event_uuid: str | None,
    payload: str,
) -> bool:
    """Store a delivery once, in its own transaction; False for a key stored before.

    This is the receiver's hot path, so it runs on the driver connection the
    pool hands out: SQLAlchemy's Connection and statement machinery cost more
    than the INSERT itself (bench/webhook_ack.py).
    """
    sql, as_driver = _driver_sql(engine.dialect)
    now = as_driver(utcnow())
    params = (
        delivery_key, kind, project_id, issue_iid, issue_key(project_id, issue_iid),
        event_uuid, payload, now, PENDING, 0, now,
    )  # fmt: skip
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            stored = cursor.rowcount == 1
        finally:
            cursor.close()
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()
    return stored


def issue_key(project_id: int | None, issue_iid: int | None) -> str:
    return f"{project_id}#{issue_iid}"


def _clock(engine: Engine, now: dt.datetime | None = None) -> Any:
    """The current time as the lease arithmetic sees it: `now` when a test passes one."""
    if now is None and engine.dialect.name == "postgresql":
        return sa.func.now()
    return now or utcnow()


def _after(clock: Any, seconds: float) -> Any:
    if isinstance(clock, dt.datetime):
        return clock + dt.timedelta(seconds=seconds)
    return clock + sa.literal(dt.timedelta(seconds=seconds), sa.Interval())


def claim(
    engine: Engine, worker: str, *, lease: float, now: dt.datetime | None = None
) -> Delivery | None:
    """Lease the next delivery this worker may run, or None when none is ready."""
    now = _clock(engine, now)
    earlier = inbox.alias("earlier")
    ready = sa.or_(
        sa.and_(inbox.c.status == PENDING, inbox.c.next_attempt_at <= now),
        sa.and_(inbox.c.status == PROCESSING, inbox.c.locked_until < now),
    )
    blocked = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.issue_key == inbox.c.issue_key,
            earlier.c.id < inbox.c.id,
            earlier.c.status.in_(OPEN),
        )
        .exists()
    )
    candidate = sa.select(inbox.c.id).where(ready, ~blocked).order_by(inbox.c.id).limit(1)
    if engine.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True, of=inbox)
    statement = (
        sa.update(inbox)
        .where(inbox.c.id == candidate.scalar_subquery())
        .values(
            status=PROCESSING,
            locked_by=worker,
            locked_until=_after(now, lease),
            attempts=inbox.c.attempts + 1,
        )
        .returning(*inbox.c)
    )
    with engine.begin() as conn:
        row = conn.execute(statement).first()
    return None if row is None else _delivery(row)


def _finish(engine: Engine, delivery_id: int, worker: str, **values: Any) -> bool:
    # Fenced by locked_by: a worker whose lease ran out and was reclaimed must
    # not overwrite what the new owner does.
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(inbox)
            .where(
                inbox.c.id == delivery_id,
                inbox.c.locked_by == worker,
                inbox.c.status == PROCESSING,
            )
            .values(**values)
        )
    return result.rowcount == 1


def renew(engine: Engine, delivery_id: int, worker: str, *, lease: float) -> bool:
    """Extend a lease its owner still holds; False once another worker claimed it."""
    return _finish(engine, delivery_id, worker, locked_until=_after(_clock(engine), lease))


def complete(engine: Engine, delivery_id: int, worker: str) -> bool:
    return _finish(
        engine, delivery_id, worker, status=DONE, finished_at=utcnow(), locked_until=None
    )


def reschedule(engine: Engine, delivery_id: int, worker: str, *, error: str, delay: float) -> bool:
    return _finish(
        engine,
        delivery_id,
        worker,
        status=PENDING,
        next_attempt_at=_after(_clock(engine), delay),
        last_error=error,
        locked_by=None,
        locked_until=None,
    )


def fail(engine: Engine, delivery_id: int, worker: str, *, error: str) -> bool:
    return _finish(
        engine,
        delivery_id,
        worker,
        status=FAILED,
        last_error=error,
        finished_at=utcnow(),
        locked_until=None,
    )


def listing(
    engine: Engine, statuses: Sequence[str] | None = None, limit: int = 100
) -> list[Delivery]:
    query = sa.select(inbox).order_by(inbox.c.id.desc()).limit(limit)
    if statuses:
        query = query.where(inbox.c.status.in_(statuses))
    with engine.connect() as conn:
        return [_delivery(row) for row in conn.execute(query)]


def get(engine: Engine, delivery_id: int) -> Delivery | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(inbox).where(inbox.c.id == delivery_id)).first()
    return None if row is None else _delivery(row)


def later(engine: Engine, delivery_key: str) -> list[Delivery]:
    """The deliveries of the same issue that arrived after this one, oldest first.

    Arrival order is the order a person's edits were made in, as far as GitLab sent
    them: unticking a refused step asks this whether a newer edit ticked it again.
    """
    this = inbox.alias("this")
    mine = sa.select(this.c.issue_key, this.c.id).where(this.c.delivery_key == delivery_key)
    mine_subquery = mine.subquery()
    query = (
        sa.select(inbox)
        .join(mine_subquery, inbox.c.issue_key == mine_subquery.c.issue_key)
        .where(inbox.c.id > mine_subquery.c.id)
        .order_by(inbox.c.id)
    )
    with engine.connect() as conn:
        return [_delivery(row) for row in conn.execute(query)]


def failed_ids(engine: Engine) -> list[int]:
    """Every failed delivery's id, oldest first: what `inbox retry --failed` queues again."""
    query = sa.select(inbox.c.id).where(inbox.c.status == FAILED).order_by(inbox.c.id)
    with engine.connect() as conn:
        return list(conn.scalars(query))


def retry(engine: Engine, delivery_id: int) -> Delivery:
    """Queue a failed delivery again, from its first attempt."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(inbox)
            .where(inbox.c.id == delivery_id, inbox.c.status == FAILED)
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=utcnow(),
                locked_by=None,
                finished_at=None,
            )
        )
    delivery = get(engine, delivery_id)
    if delivery is None:
        raise InboxError(f"no delivery {delivery_id}")
    if result.rowcount != 1:
        raise InboxError(f"delivery {delivery_id} is {delivery.status}, only failed ones retry")
    return delivery


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(inbox.c.status, sa.func.count()).group_by(inbox.c.status)
        ).all()
    return {status: int(n) for status, n in rows}
