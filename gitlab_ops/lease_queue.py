"""A durable queue of leased work in one table: the webhook inbox and the issue updates.

Rows move pending -> processing (leased to one worker) -> done | failed. A
worker claims the oldest ready row of an `issue_key` that has no earlier row
still open, so one issue's work runs in id order while other issues run in
parallel. The claim is one `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
LOCKED) RETURNING`, so any number of processes share a queue (SQLite
serializes the statement; PostgreSQL skips rows another claim holds).

A claim is a lease: a worker that dies leaves its row to the next claim once
the lease runs out, and while it works it renews the lease (`renew`, driven by
`gitlab_ops.lease`). Every write after the claim is fenced by the owner's
name, so a worker whose lease was taken over changes nothing.

Lease times are the database's: on PostgreSQL `now()`, so workers on hosts
whose clocks disagree still agree on when a lease ran out; SQLite is a file on
this host, so there its clock is this host's.

The table needs these columns: id, issue_key, status, attempts,
next_attempt_at, locked_by, locked_until, last_error, finished_at.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
OPEN = (PENDING, PROCESSING)
STATUSES = (PENDING, PROCESSING, DONE, FAILED)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def clock(dialect_name: str, now: dt.datetime | None = None) -> Any:
    """The current time as lease arithmetic sees it: `now` when a test passes one."""
    if now is None and dialect_name == "postgresql":
        return sa.func.now()
    return now or utcnow()


def after(when: Any, seconds: float) -> Any:
    """`when` plus `seconds`, in Python or in SQL, whichever `when` is."""
    if isinstance(when, dt.datetime):
        return when + dt.timedelta(seconds=seconds)
    return when + sa.literal(dt.timedelta(seconds=seconds), sa.Interval())


@dataclass(frozen=True)
class LeaseQueue:
    """The claim, renew and settle queries of one queue table."""

    table: sa.Table
    # Set on every claim besides the lease itself (the issue updates' coalesce_key).
    on_claim: Mapping[str, Any] = field(default_factory=dict)

    def leased(self, engine: Engine | Connection, worker: str, lease: float) -> dict[str, Any]:
        """The values of a row enqueued already leased to `worker` (its first attempt)."""
        return {
            "status": PROCESSING,
            "attempts": 1,
            "locked_by": worker,
            "locked_until": after(clock(engine.dialect.name), lease),
        }

    def claim(
        self, engine: Engine, worker: str, *, lease: float, now: dt.datetime | None = None
    ) -> sa.Row[Any] | None:
        """Lease the next row this worker may run, or None when none is ready."""
        table = self.table
        current = clock(engine.dialect.name, now)
        earlier = table.alias("earlier")
        ready = sa.or_(
            sa.and_(table.c.status == PENDING, table.c.next_attempt_at <= current),
            sa.and_(table.c.status == PROCESSING, table.c.locked_until < current),
        )
        blocked = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.issue_key == table.c.issue_key,
                earlier.c.id < table.c.id,
                earlier.c.status.in_(OPEN),
            )
            .exists()
        )
        candidate = sa.select(table.c.id).where(ready, ~blocked).order_by(table.c.id).limit(1)
        if engine.dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True, of=table)
        statement = (
            sa.update(table)
            .where(table.c.id == candidate.scalar_subquery())
            .values(
                status=PROCESSING,
                locked_by=worker,
                locked_until=after(current, lease),
                attempts=table.c.attempts + 1,
                **self.on_claim,
            )
            .returning(*table.c)
        )
        with engine.begin() as conn:
            return conn.execute(statement).first()

    def settle(self, engine: Engine, item_id: int, worker: str, **values: Any) -> bool:
        """Write `values` only while `worker` still holds the lease; False when it does not."""
        table = self.table
        with engine.begin() as conn:
            result = conn.execute(
                sa.update(table)
                .where(
                    table.c.id == item_id,
                    table.c.locked_by == worker,
                    table.c.status == PROCESSING,
                )
                .values(**values)
            )
        return result.rowcount == 1

    def renew(self, engine: Engine, item_id: int, worker: str, *, lease: float) -> bool:
        """Extend a lease its owner still holds; False once another worker claimed it."""
        until = after(clock(engine.dialect.name), lease)
        return self.settle(engine, item_id, worker, locked_until=until)

    def complete(self, engine: Engine, item_id: int, worker: str) -> bool:
        finished = clock(engine.dialect.name)
        return self.settle(
            engine, item_id, worker, status=DONE, finished_at=finished, locked_until=None
        )

    def reschedule(
        self, engine: Engine, item_id: int, worker: str, *, error: str | None, delay: float
    ) -> bool:
        return self.settle(
            engine,
            item_id,
            worker,
            status=PENDING,
            next_attempt_at=after(clock(engine.dialect.name), delay),
            last_error=error,
            locked_by=None,
            locked_until=None,
        )

    def release(self, engine: Engine, item_id: int, worker: str) -> bool:
        """Give back a leased row that was not tried: due now, the lease's attempt undone."""
        return self.settle(
            engine,
            item_id,
            worker,
            status=PENDING,
            attempts=self.table.c.attempts - 1,
            next_attempt_at=clock(engine.dialect.name),
            locked_by=None,
            locked_until=None,
        )

    def fail(self, engine: Engine, item_id: int, worker: str, *, error: str) -> bool:
        return self.settle(
            engine,
            item_id,
            worker,
            status=FAILED,
            last_error=error,
            finished_at=clock(engine.dialect.name),
            locked_until=None,
        )

    def counts(self, engine: Engine) -> dict[str, int]:
        table = self.table
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
            ).all()
        return {status: int(n) for status, n in rows}
