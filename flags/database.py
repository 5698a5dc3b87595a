"""Engines for the database the flags live in: one place that knows SQLite from PostgreSQL.

At the bottom so that every package opening that database (the flag store,
tracking in another application, the bot) opens it the same way.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flags.process_count import ProcessCount

# The bound on a flag reader's version check and snapshot (seconds).
DEFAULT_CHECK_TIMEOUT = 0.2
SQLITE_BUSY_TIMEOUT_MS = 10_000  # what every SQLite connection waits for a lock
# A connection attempt to an unreachable PostgreSQL fails after this (seconds)
# instead of the kernel's minutes of SYN retries.
POSTGRES_CONNECT_TIMEOUT = 10


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes a second
    # writer wait for the lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN")


def sqlite_transactions(engine: Engine) -> None:
    """SQLAlchemy's recipe: SQLAlchemy, not pysqlite, begins SQLite transactions.

    pysqlite sends no BEGIN before a SAVEPOINT, so SQLite takes the savepoint as
    the outermost transaction and RELEASE commits it; a host application using
    savepoints would commit half a transaction
    (https://docs.sqlalchemy.org/en/21/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl).
    Idempotent; connections made before it keep pysqlite's behaviour, so it disposes them.

    Not applied by `make_engine`: with SQLite's deferred BEGIN, a transaction
    that reads and then writes fails at once ("database is locked") when another
    writer committed in between, which pysqlite's late BEGIN avoids. rollout-bot
    uses no savepoints; a host application that does calls this on its engine.
    """
    if engine.dialect.name != "sqlite" or sa.event.contains(engine, "begin", _begin):
        return
    sa.event.listen(engine, "connect", _no_driver_transactions)
    sa.event.listen(engine, "begin", _begin)
    engine.dispose()


def make_engine(url: str) -> Engine:
    if is_sqlite(url):
        engine = sa.create_engine(url, connect_args={"timeout": 10})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
    )


@contextmanager
def bounded(engine: Engine, seconds: float) -> Iterator[sa.Connection]:
    """A connection whose statements give up after `seconds` instead of waiting.

    PostgreSQL: `SET LOCAL statement_timeout`, which ends with the transaction,
    so the pooled connection goes back unbounded for other users of the engine
    (https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT).
    SQLite: the connection's busy timeout, restored afterwards (SQLite has no
    per-transaction setting); a connection that cannot be restored is discarded.
    """
    ms = max(1, round(seconds * 1000))
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
            yield conn
            return
        if conn.dialect.name != "sqlite":
            yield conn
            return
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
        try:
            yield conn
        finally:
            try:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            except sa.exc.DBAPIError:
                conn.invalidate()


class WriterTurnTimeout(TimeoutError):
    """Another writer of this process held the SQLite write turn past the busy timeout."""


_writer_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


_writer_turn_timeouts = ProcessCount()


def writer_turn_timeouts() -> int:
    """How many writers gave up waiting for their turn (a counter for /metrics)."""
    return _writer_turn_timeouts.count()


def share_writer_turn_timeouts() -> None:
    """Count writer-turn timeouts across the processes forked after this call
    (`ProcessCount.share`)."""
    _writer_turn_timeouts.share()


@contextmanager
def writer_turn(engine: Engine, timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> Iterator[float]:
    """On SQLite, this process's writers take turns on a lock; elsewhere, nothing.

    SQLite has one write lock per database. A writer that misses it sleeps in SQLite's
    busy handler in growing steps (1, 2, 5, 10, ... up to 100 ms), so with several
    threads writing the lock often sits free while they all sleep: the acknowledgement
    p99 of `serve` on SQLite was 117 ms with 4 threads per process
    (bench/webhook_ack.py). Queued on a Python lock, the next writer of the process
    wakes the moment the lock is released; other processes still meet SQLite's lock.
    Bounded like SQLite's own wait: past `timeout`, WriterTurnTimeout, nothing written.
    Yields the turn's deadline (`time.monotonic()`), for `polled_write`.
    """
    deadline = time.monotonic() + timeout
    if engine.dialect.name != "sqlite":
        yield deadline
        return
    with _writer_locks_guard:
        lock = _writer_locks.setdefault(engine, threading.Lock())
    if not lock.acquire(timeout=timeout):
        _count_timeout()
        raise WriterTurnTimeout(
            f"another writer of this process held the SQLite database for over {timeout:g} s"
        )
    try:
        yield deadline
    finally:
        lock.release()


def _count_timeout() -> None:
    _writer_turn_timeouts.add()


# How often a polled write asks SQLite for its lock again (seconds).
SQLITE_POLL_SECONDS = 0.001


def polled_write(dbapi_connection: Any, sql: str, params: Sequence[Any], deadline: float) -> int:
    """Run one write statement on a SQLite driver connection, asking for the lock every
    millisecond until `deadline`; the row count. Not committed.

    SQLite's own busy handler backs off to 100 ms sleeps, so a writer that must not
    wait long (the receiver) starves behind processes that write often (the delivery
    workers): while they drained, `serve` on SQLite acknowledged 13 deliveries a second
    (bench/webhook_ack.py). Polling every millisecond takes the lock in the first gap.
    Past the deadline: WriterTurnTimeout, the statement rolled back.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 0")
        while True:
            try:
                cursor.execute(sql, params)
                return int(cursor.rowcount)
            except sqlite3.OperationalError as exc:
                dbapi_connection.rollback()
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    _count_timeout()
                    raise WriterTurnTimeout(
                        "another process held the SQLite database until the delivery's turn ran out"
                    ) from exc
                time.sleep(SQLITE_POLL_SECONDS)
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()
