"""The outbox: events written in the application's transaction, sent after it commits.

Writing the event in the same transaction as the change is what makes
delivery exact: a rollback removes both, a commit keeps both, and a crash
after the commit leaves the event for the next sender. The write side runs on
the session's own connection, just before its transaction commits.

The send side (`tracking.claims`, re-exported here) claims rows with a
lease, posts them with no transaction open, and settles them in a short
transaction; see that module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracking.claims import Chunk as Chunk
from tracking.claims import Item as Item
from tracking.claims import Outbox as Outbox
from tracking.schema import outbox


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- write side: inside the application's transaction --------------------------

_INSERT = sa.insert(outbox)


def insert(conn: Connection, payloads: Sequence[str]) -> None:
    """Add events in the connection's open transaction."""
    now = utcnow()
    conn.execute(_INSERT, [{"payload": payload, "created_at": now} for payload in payloads])


@dataclass(frozen=True)
class _DriverInsert:
    """The outbox insert as one dialect's DBAPI takes it, compiled by SQLAlchemy."""

    sql: str
    positions: tuple[str, ...] | None  # parameter order; None: named parameters
    timestamp: Callable[[dt.datetime], Any]  # `created_at` as the DBAPI takes it

    def rows(self, payloads: Sequence[str], now: dt.datetime) -> list[Any]:
        stamp = self.timestamp(now)
        values = [{"payload": payload, "created_at": stamp} for payload in payloads]
        if self.positions is None:
            return values
        return [tuple(row[name] for name in self.positions) for row in values]


_driver_inserts: dict[int, tuple[sa.Dialect, _DriverInsert]] = {}


def driver_insert(dialect: sa.Dialect) -> _DriverInsert:
    """The insert `write_at_commit` runs on `dialect`'s raw cursor (made once per dialect)."""
    known = _driver_inserts.get(id(dialect))
    if known is not None and known[0] is dialect:
        return known[1]
    compiled = (
        sa.insert(outbox)
        .values(payload=sa.bindparam("payload"), created_at=sa.bindparam("created_at"))
        .inline()  # no RETURNING: nobody reads the new ids
        .compile(dialect=dialect)
    )
    processor = outbox.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    prepared = _DriverInsert(
        sql=compiled.string,
        positions=tuple(compiled.positiontup or ()) if compiled.positional else None,
        timestamp=processor if processor is not None else _same,
    )
    _driver_inserts[id(dialect)] = (dialect, prepared)
    return prepared


def _same(value: dt.datetime) -> Any:
    return value


def write_at_commit(dialect: sa.Dialect, dbapi_connection: Any, payloads: Sequence[str]) -> None:
    """Add events to the transaction `dbapi_connection` is about to commit.

    Called from the dialect's `do_commit` (`tracking.commit_hook`), on the
    DBAPI connection as SQLAlchemy hands it there. On psycopg, inside a
    transaction, the insert and the COMMIT go to the server as one query: the
    events cost the application no round trip of their own, and the original
    `do_commit` that follows finds the transaction committed. Elsewhere a
    plain insert runs on the connection's cursor, and the commit follows.
    """
    now = utcnow()
    if dialect.driver == "psycopg" and _psycopg_insert_and_commit(dbapi_connection, payloads, now):
        return
    prepared = driver_insert(dialect)
    cursor = dbapi_connection.cursor()
    try:
        cursor.executemany(prepared.sql, prepared.rows(payloads, now))
    finally:
        cursor.close()


def _psycopg_insert_and_commit(
    dbapi_connection: Any, payloads: Sequence[str], now: dt.datetime
) -> bool:
    """Insert and COMMIT in one simple query through libpq; False outside a transaction.

    Straight to libpq (psycopg.pq, the documented low-level layer): values
    quoted by PQescapeLiteral, one PQexec. psycopg's own cursors would add
    about as much Python per commit as the round trip this saves.
    """
    from psycopg import DatabaseError, pq

    driver = dbapi_connection.driver_connection
    pgconn = driver.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.INTRANS:
        return False
    encoding = driver.info.encoding
    literal = pq.Escaping(pgconn).escape_literal
    created_at = literal(now.isoformat().encode())
    rows = b", ".join(
        b"(" + literal(payload.encode(encoding)) + b", " + created_at + b")" for payload in payloads
    )
    query = b"INSERT INTO " + outbox.name.encode() + b" (payload, created_at) VALUES "
    with driver.lock:
        result = pgconn.exec_(query + rows + b"; COMMIT")
    if result.status != pq.ExecStatus.COMMAND_OK:
        message = (result.error_message or b"").decode(encoding, "replace").strip()
        raise DatabaseError(f"writing tracking events at commit failed: {message}")
    return True
