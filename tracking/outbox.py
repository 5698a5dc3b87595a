"""The outbox: events written in the application's transaction, sent after it commits.

Writing the event in the same transaction as the change is what makes
delivery exact: a rollback removes both, a commit keeps both, and a crash
after the commit leaves the event for the next sender. The write side runs on
the session's own connection, in its `before_commit` (`tracking.session_listeners`),
as an ordinary Core insert.

The send side claims a chunk of rows, posts it, then deletes what the
collector settled and gives back the rest, so any number of processes share
one outbox and a retry sends the same event ids:

- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` in a transaction held open
  while the chunk is posted; other senders skip the locked rows, and a sender
  that dies releases them with its connection. No row is rewritten to claim
  it, which keeps a busy outbox cheap to drain.
- SQLite (and anything else): a lease, the pattern of `webhook/inbox.py`: one
  `UPDATE ... RETURNING` stamps `locked_by`/`locked_until` and commits at
  once, since SQLite has one writer and a transaction held during a POST
  would stall the application's commits. A sender that dies leaves its rows
  to be claimed again when the lease runs out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RootTransaction

from tracking.schema import outbox

Item = tuple[int, str]  # (key, payload JSON text)


class Chunk(Protocol):
    """Claimed events; `finish` once: the first `done` are deleted, the rest given back."""

    items: list[Item]

    def finish(self, done: int, error: str | None) -> None: ...


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- write side: inside the application's transaction --------------------------

_INSERT = sa.insert(outbox)


def insert(conn: Connection, payloads: Sequence[str]) -> None:
    """Add events in the connection's open transaction."""
    now = utcnow()
    conn.execute(_INSERT, [{"payload": payload, "created_at": now} for payload in payloads])


# -- send side: the sender's own transactions -----------------------------------


def _ids(items: Sequence[Item]) -> list[int]:
    return [key for key, _ in items]


def _fast_commit(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # A claim or delete lost in a server crash only sends events again,
        # with their same ids: not worth waiting for the WAL flush.
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


class _Locked:
    """A PostgreSQL chunk: its rows stay locked by the open transaction until `finish`."""

    def __init__(self, conn: Connection, transaction: RootTransaction, items: list[Item]) -> None:
        self.conn = conn
        self.transaction = transaction
        self.items = items

    def finish(self, done: int, error: str | None) -> None:
        try:
            sent, rest = self.items[:done], self.items[done:]
            if sent:
                self.conn.execute(sa.delete(outbox).where(outbox.c.id.in_(_ids(sent))))
            if rest and error is not None:
                self.conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_(_ids(rest)))
                    .values(attempts=outbox.c.attempts + 1, last_error=error)
                )
            self.transaction.commit()
        finally:
            self.conn.close()


class _Leased:
    """A SQLite chunk: its rows carry this sender's lease until `finish`."""

    def __init__(self, outbox_: Outbox, items: list[Item]) -> None:
        self.outbox = outbox_
        self.items = items

    def finish(self, done: int, error: str | None) -> None:
        sent, rest = self.items[:done], self.items[done:]
        # Fenced by locked_by: if our lease ran out and another sender took the
        # rows, they are its rows now.
        mine = outbox.c.locked_by == self.outbox.owner
        with self.outbox.engine.begin() as conn:
            if sent:
                conn.execute(sa.delete(outbox).where(outbox.c.id.in_(_ids(sent)), mine))
            if rest:
                attempts = outbox.c.attempts + (0 if error is None else 1)
                conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_(_ids(rest)), mine)
                    .values(locked_by=None, locked_until=None, attempts=attempts, last_error=error)
                )


class Outbox:
    """The outbox as the sender sees it."""

    def __init__(self, engine: Engine, owner: str, lease: float) -> None:
        self.engine = engine
        self.owner = owner
        self.lease = lease

    def claim(self, limit: int) -> Chunk | None:
        if self.engine.dialect.name == "postgresql":
            return self._lock(limit)
        return self._lease(limit)

    def _lock(self, limit: int) -> Chunk | None:
        conn = self.engine.connect()
        try:
            transaction = conn.begin()
            _fast_commit(conn)
            rows = conn.execute(
                sa.select(outbox.c.id, outbox.c.payload)
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
        except BaseException:
            conn.close()
            raise
        if not rows:
            conn.close()
            return None
        return _Locked(conn, transaction, [(row.id, row.payload) for row in rows])

    def _lease(self, limit: int) -> Chunk | None:
        now = utcnow()
        claimable = sa.or_(outbox.c.locked_until.is_(None), outbox.c.locked_until < now)
        # Look before taking the write lock: an idle sender then only reads,
        # and never makes an application's transaction wait or retry.
        with self.engine.connect() as conn:
            if conn.scalar(sa.select(outbox.c.id).where(claimable).limit(1)) is None:
                return None
        candidate = sa.select(outbox.c.id).where(claimable).order_by(outbox.c.id).limit(limit)
        statement = (
            sa.update(outbox)
            .where(outbox.c.id.in_(candidate))
            .values(locked_by=self.owner, locked_until=now + dt.timedelta(seconds=self.lease))
            .returning(outbox.c.id, outbox.c.payload)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(statement).all()
        if not rows:
            return None
        return _Leased(self, sorted((row.id, row.payload) for row in rows))

    def depth(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(outbox)) or 0)

    def reset_after_fork(self, owner: str) -> None:
        self.owner = owner
