"""The outbox rows of a transaction, written by its commit.

Durable tracking must write a transaction's events inside that transaction,
and the cheapest moment is the last one: the commit itself. SQLAlchemy hands
every commit to its dialect's `do_commit(dbapi_connection)` (the public
`Dialect` interface), after its own `commit` event listeners have run, so a
listener that vetoes the commit still stops the events with it. This module
wraps `do_commit` on the dialects tracking writes through: the wrapper asks
each registered writer for the events of that DBAPI connection's transaction,
writes them (`outbox.write_at_commit`: on psycopg in the same round trip as
the COMMIT), then lets the original `do_commit` run.

Why not an engine `commit` listener: SQLAlchemy then dispatches events for
every statement on the engine (about a tenth more work per ORM write, measured
with callgrind), and a listener added after ours would run after the insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from tracking import outbox


class Writer(Protocol):
    def take(self, dbapi_connection: Any) -> list[str]:
        """The events to write in this connection's committing transaction."""
        ...


class _Hook:
    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self.original: Callable[[Any], None] = dialect.do_commit
        self.writers: list[Writer] = []

    def do_commit(self, dbapi_connection: Any) -> None:
        payloads: list[str] = []
        for writer in self.writers:
            payloads.extend(writer.take(dbapi_connection))
        if payloads:
            outbox.write_at_commit(self.dialect, dbapi_connection, payloads)
        self.original(dbapi_connection)


_lock = threading.Lock()
_hooks: dict[int, _Hook] = {}


def attach(dialect: sa.Dialect, writer: Writer) -> None:
    """Have `dialect`'s commits write `writer`'s events (idempotent)."""
    hook = _hooks.get(id(dialect))
    if hook is not None and hook.dialect is dialect and any(w is writer for w in hook.writers):
        return  # the common case, from every flush: no lock (writers is copied on write)
    with _lock:
        hook = _hooks.get(id(dialect))
        if hook is None or hook.dialect is not dialect:
            outbox.driver_insert(dialect)  # compiled now: a dialect it fails on fails here
            hook = _hooks[id(dialect)] = _Hook(dialect)
            # An instance attribute: this engine's dialect only, undone by detach.
            dialect.do_commit = hook.do_commit  # type: ignore[method-assign]
        if not any(known is writer for known in hook.writers):
            hook.writers = [*hook.writers, writer]


def detach(writer: Writer) -> None:
    """Stop writing `writer`'s events; a dialect without writers gets its do_commit back."""
    with _lock:
        for key, hook in list(_hooks.items()):
            hook.writers = [known for known in hook.writers if known is not writer]
            if not hook.writers:
                if hook.dialect.__dict__.get("do_commit") == hook.do_commit:
                    del hook.dialect.do_commit
                del _hooks[key]
