"""The durable inbox: deliveries live in the database until a worker is done with them.

Claiming, leases and their renewal are the shared queue's (`gitlab_ops.lease_queue`):
one issue's deliveries run in arrival order, other issues in parallel, a worker
that dies leaves its delivery to the next claim once its lease runs out, and the
lease is measured by the database's clock. Storing a delivery is this module's own
hot path (`store`).
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

from flags.database import SQLITE_BUSY_TIMEOUT_MS, polled_write, writer_turn

# Re-exported: callers of the inbox name its statuses and clock through it.
from gitlab_ops.lease_queue import DONE as DONE
from gitlab_ops.lease_queue import FAILED as FAILED
from gitlab_ops.lease_queue import OPEN as OPEN
from gitlab_ops.lease_queue import PENDING as PENDING
from gitlab_ops.lease_queue import PROCESSING as PROCESSING
from gitlab_ops.lease_queue import LeaseQueue
from gitlab_ops.lease_queue import utcnow as utcnow
from webhook.schema import inbox_deliveries as inbox

QUEUE = LeaseQueue(inbox)


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
    turn_timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
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
    with writer_turn(engine, turn_timeout) as deadline:
        connection = engine.raw_connection()
        try:
            if engine.dialect.name == "sqlite":
                stored = polled_write(connection, sql, params, deadline) == 1
            else:
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


def claim(
    engine: Engine, worker: str, *, lease: float, now: dt.datetime | None = None
) -> Delivery | None:
    """Lease the next delivery this worker may run, or None when none is ready."""
    row = QUEUE.claim(engine, worker, lease=lease, now=now)
    return None if row is None else _delivery(row)


def renew(engine: Engine, delivery_id: int, worker: str, *, lease: float) -> bool:
    """Extend a lease its owner still holds; False once another worker claimed it."""
    return QUEUE.renew(engine, delivery_id, worker, lease=lease)


def complete(engine: Engine, delivery_id: int, worker: str) -> bool:
    return QUEUE.complete(engine, delivery_id, worker)


def reschedule(engine: Engine, delivery_id: int, worker: str, *, error: str, delay: float) -> bool:
    return QUEUE.reschedule(engine, delivery_id, worker, error=error, delay=delay)


def fail(engine: Engine, delivery_id: int, worker: str, *, error: str) -> bool:
    return QUEUE.fail(engine, delivery_id, worker, error=error)


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
    return QUEUE.counts(engine)
