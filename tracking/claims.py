"""The send side of the outbox: claim with a lease, post, settle.

No transaction or row lock is held while a sender posts. A claim is one
short transaction: an `UPDATE ... RETURNING` stamps `locked_by` and
`locked_until` on the rows it takes and commits at once (on PostgreSQL the
rows are picked with `FOR UPDATE SKIP LOCKED`, so concurrent claims never
wait for each other or take the same rows). The sender then posts without
touching the database, and settles the chunk in a second short transaction:
sent and refused rows are deleted, failed rows get their attempt counted and
a `next_attempt_at` after their backoff, dead letters are marked, the rest is
handed back. Every settling statement is fenced by `locked_by`: rows whose
lease ran out and that another sender claimed are that sender's now.

A lease that runs out (a sender killed, or stuck longer than its lease)
makes its rows claimable again, and they are sent again with the same event
ids. That is at-least-once delivery: the collector side deduplicates by event
id (Snowplow's pipeline drops duplicate `eid`s downstream), as it must for any
tracker that retries after a timeout.

Claims go in order of when a row is due (`next_attempt_at`, else
`created_at`): a row that failed waits out its backoff while later events go
ahead of it, so one failing batch never holds the rest back for longer than
its backoff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tracking import sent_counts
from tracking.schema import outbox

Item = tuple[int, str]  # (key, payload JSON text)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class DeadLetterPolicy:
    """When a failing event stops being retried: after this many attempts, or this old."""

    max_attempts: int | None = None
    max_age: dt.timedelta | None = None


@dataclass
class Settlement:
    """What became of a claimed chunk's events; the ones no field names go back as they were."""

    sent: list[Item] = field(default_factory=list)  # the collector took them
    dropped: list[int] = field(default_factory=list)  # refused for good (400, 422, ...)
    dead: dict[int, str] = field(default_factory=dict)  # dead letters now, with the reason
    failed: list[int] = field(default_factory=list)  # to retry at `retry_at`
    error: str | None = None
    retry_at: dt.datetime | None = None
    policy: DeadLetterPolicy = field(default_factory=DeadLetterPolicy)


class Chunk(Protocol):
    """Claimed events; `settle` once."""

    items: list[Item]

    def attempts(self, key: int) -> int:
        """How often this event was posted and failed before this claim."""
        ...

    def settle(self, settlement: Settlement) -> None: ...


def _fast_commit(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # A claim or settlement lost in a server crash only sends events
        # again, with their same ids: not worth waiting for the WAL flush.
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


class _Leased:
    """A claimed chunk: its rows carry this sender's lease until `settle`."""

    def __init__(self, outbox_: Outbox, items: list[Item], attempts: dict[int, int]) -> None:
        self.outbox = outbox_
        self.items = items
        self._attempts = attempts

    def attempts(self, key: int) -> int:
        return self._attempts.get(key, 0)

    def settle(self, settlement: Settlement) -> None:
        now = utcnow()
        mine = outbox.c.locked_by == self.outbox.owner
        unlocked = {"locked_by": None, "locked_until": None}
        touched = {key for key, _ in settlement.sent}
        touched.update(settlement.dropped, settlement.dead, settlement.failed)
        rest = [key for key, _ in self.items if key not in touched]
        with self.outbox.engine.begin() as conn:
            _fast_commit(conn)
            if settlement.sent:
                keys = [key for key, _ in settlement.sent]
                deleted = set(
                    conn.scalars(
                        sa.delete(outbox).where(outbox.c.id.in_(keys), mine).returning(outbox.c.id)
                    )
                )
                # Only what this sender deleted counts: a row another sender
                # took over after our lease ran out is counted by that sender.
                payloads = [payload for key, payload in settlement.sent if key in deleted]
                sent_counts.add(conn, payloads, now)
            if settlement.dropped:
                conn.execute(sa.delete(outbox).where(outbox.c.id.in_(settlement.dropped), mine))
            for reason in set(settlement.dead.values()):
                keys = [key for key, why in settlement.dead.items() if why == reason]
                conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_(keys), mine)
                    .values(
                        attempts=outbox.c.attempts + 1, last_error=reason, dead_at=now, **unlocked
                    )
                )
            if settlement.failed:
                values = {
                    "attempts": outbox.c.attempts + 1,
                    "last_error": settlement.error,
                    "next_attempt_at": settlement.retry_at,
                    **unlocked,
                }
                dies = _dies(settlement.policy, now)
                if dies is not None:
                    values["dead_at"] = sa.case((dies, _stamp(now)), else_=sa.null())
                conn.execute(
                    sa.update(outbox).where(outbox.c.id.in_(settlement.failed), mine).values(values)
                )
            if rest:
                conn.execute(sa.update(outbox).where(outbox.c.id.in_(rest), mine).values(unlocked))


def _stamp(value: dt.datetime) -> sa.ColumnElement[dt.datetime]:
    return sa.literal(value, outbox.c.dead_at.type)


def _dies(policy: DeadLetterPolicy, now: dt.datetime) -> sa.ColumnElement[bool] | None:
    """Whether a row failing now becomes a dead letter (SQL, on the row's values before update)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if policy.max_attempts is not None:
        conditions.append(outbox.c.attempts + 1 >= policy.max_attempts)
    if policy.max_age is not None:
        since = sa.func.coalesce(outbox.c.requeued_at, outbox.c.created_at)
        conditions.append(since < _stamp(now - policy.max_age))
    return sa.or_(*conditions) if conditions else None


class Outbox:
    """The outbox as the sender sees it."""

    def __init__(self, engine: Engine, owner: str, lease: float) -> None:
        self.engine = engine
        self.owner = owner
        self.lease = lease

    def claim(self, limit: int) -> Chunk | None:
        now = utcnow()
        due = sa.and_(
            outbox.c.dead_at.is_(None),
            sa.or_(outbox.c.locked_until.is_(None), outbox.c.locked_until < now),
            sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
        )
        if self.engine.dialect.name == "sqlite":
            # Look before taking the write lock: an idle sender then only
            # reads, and never makes an application's transaction wait.
            with self.engine.connect() as conn:
                if conn.scalar(sa.select(outbox.c.id).where(due).limit(1)) is None:
                    return None
        candidate = (
            sa.select(outbox.c.id)
            .where(due)
            .order_by(sa.func.coalesce(outbox.c.next_attempt_at, outbox.c.created_at), outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
        )
        statement = (
            sa.update(outbox)
            .where(outbox.c.id.in_(candidate))
            .values(locked_by=self.owner, locked_until=now + dt.timedelta(seconds=self.lease))
            .returning(outbox.c.id, outbox.c.payload, outbox.c.attempts)
        )
        with self.engine.begin() as conn:
            _fast_commit(conn)
            rows = sorted(conn.execute(statement).all())
        if not rows:
            return None
        return _Leased(
            self,
            [(row.id, row.payload) for row in rows],
            {row.id: row.attempts for row in rows if row.attempts},
        )

    def depth(self) -> int:
        """Events waiting to be sent (dead letters are not waiting)."""
        with self.engine.connect() as conn:
            count = conn.scalar(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.dead_at.is_(None))
            )
        return int(count or 0)

    def reset_after_fork(self, owner: str) -> None:
        self.owner = owner
