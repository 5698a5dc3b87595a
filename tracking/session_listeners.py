"""Session listeners: collect changed rows in flush, hand events on after commit.

After SQLAlchemy's `versioned_history` example: the listeners are registered
by a call on one session factory, never at import. Each flush looks at the
tracked objects it wrote, snapshots their allow-listed attributes and, when
the flag is on for the row's group, builds the event. Events are kept per
open transaction and savepoint (a stack of frames), so

- a rolled back savepoint drops its own frame and nothing else;
- a released savepoint merges its frame into the enclosing one;
- only the outermost commit hands events on; a rollback, a failed commit or
  a session closed mid-transaction drops them;
- several flushes of one object in one transaction give one event: create
  then update is one create with the final values, create then destroy none.

In durable mode the events reach the outbox in the session's `before_commit`,
the last moment the transaction is still open: the listener flushes (the
commit would flush next anyway), then inserts what the frames hold with a Core
`insert()` on the session's own connection for each mapper. So the change and
its events commit or roll back together, the outbox sees one row per event,
never a row an earlier flush wrote and a later one rewrote or a savepoint
rollback took back, and the insert is an ordinary statement: SQL listeners,
echo and tracing see it, and an error at commit is the driver's own, with its
class and sqlstate. Nothing is written outside a session's commit, so a
connection the pool resets with a COMMIT carries no event. A flush after that
insert (another `before_commit` listener adding rows) writes its own events at
once, uncoalesced with those already written. When the session runs inside an
external transaction, its commit writes the events into that transaction.

Durable tracking refuses what cannot keep that promise, at the first tracked
flush or commit: a two-phase session, and a connection in AUTOCOMMIT (each
statement would commit on its own, before the events could join it).

Bulk `update()`, `delete()` and `insert()` statements do not go through the
unit of work and send nothing; a warning says so once per table and kind.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction
from sqlalchemy.orm.attributes import instance_dict, instance_state

from flags.engine import Flags
from tracking import outbox
from tracking.counters import Counters
from tracking.payload import AS_IS, Op, PayloadBuilder, jsonable
from tracking.pending import Entry, Pending, Tracked, boundary, coalesce
from tracking.refusals import (
    AUTOCOMMIT_REFUSED,
    TWO_PHASE_REFUSED,
    TrackingRefused,
    autocommit,
)

log = logging.getLogger(__name__)

FLAG = "product_intelligence_database_event_tracking"


class DatabaseEvents:
    """The listeners of one installed tracker."""

    def __init__(
        self,
        *,
        flags: Flags,
        builder: PayloadBuilder,
        durable: bool,
        counters: Counters,
        committed: Callable[[list[Entry]], None],
    ) -> None:
        self.flags = flags
        self.builder = builder
        self.durable = durable
        self.counters = counters
        self.committed = committed
        self._key = f"tracking.pending.{id(self)}"
        self._warned: set[tuple[str, str]] = set()
        self._labels: dict[type[Tracked], str] = {}
        self._listeners: list[tuple[str, Callable[..., Any]]] = [
            ("before_flush", self._before_flush),
            ("after_flush", self._after_flush),
            ("after_flush_postexec", self._after_flush_postexec),
            ("after_commit", self._after_commit),
            ("after_transaction_end", self._after_transaction_end),
            ("do_orm_execute", self._do_orm_execute),
        ]
        if durable:
            self._listeners.append(("before_commit", self._before_commit))

    def listen(self, target: Any) -> None:
        for name, listener in self._listeners:
            sa.event.listen(target, name, listener)

    def remove(self, target: Any) -> None:
        for name, listener in self._listeners:
            if sa.event.contains(target, name, listener):
                sa.event.remove(target, name, listener)

    def _pending(self, session: Session) -> Pending:
        pending = session.info.get(self._key)
        if pending is None:
            pending = session.info[self._key] = Pending()
        assert isinstance(pending, Pending)
        return pending

    # -- flush --------------------------------------------------------------------

    def _before_flush(self, session: Session, flush_context: UOWTransaction, _: Any) -> None:
        # A destroyed row cannot be read after its DELETE: load what the event
        # needs while the row is still there (a no-op when already loaded).
        for obj in session.deleted:
            if isinstance(obj, Tracked):
                for key in (*obj.SNOWPLOW_ATTRIBUTES, obj.SNOWPLOW_GROUP_ATTRIBUTE):
                    if key:
                        getattr(obj, key)
        if self.durable:
            pending = self._pending(session)
            if pending.checked is None or pending.checked is not session.get_transaction():
                self._check(session, pending)

    def _check(self, session: Session, pending: Pending) -> None:
        """Refuse, before its first tracked write, a session whose events cannot commit with it."""
        changed = itertools.chain(session.new, session.deleted, session.dirty)
        tracked = next((obj for obj in changed if isinstance(obj, Tracked)), None)
        if tracked is None:
            return
        if session.twophase:
            raise TrackingRefused(TWO_PHASE_REFUSED)
        mapper = instance_state(tracked).mapper
        if autocommit(session.connection(bind_arguments={"mapper": mapper})):
            raise TrackingRefused(AUTOCOMMIT_REFUSED)
        pending.checked = session.get_transaction()

    def _after_flush(self, session: Session, flush_context: UOWTransaction) -> None:
        # Still the pre-flush view: new/dirty/deleted and attribute history say
        # what this flush wrote.
        flushed = self._pending(session).flushed
        for obj in session.new:
            if isinstance(obj, Tracked):
                flushed.append((obj, "create", None))
        for obj in session.dirty:
            if isinstance(obj, Tracked) and session.is_modified(obj, include_collections=False):
                flushed.append((obj, "update", None))
        for obj in session.deleted:
            if isinstance(obj, Tracked):
                flushed.append((obj, "destroy", _snapshot(obj)))

    def _after_flush_postexec(self, session: Session, flush_context: UOWTransaction) -> None:
        pending = self._pending(session)
        flushed, pending.flushed = pending.flushed, []
        if not flushed:
            return
        frame = pending.frame(boundary(session))
        conns: dict[Any, Connection] = {}
        for obj, op, values in flushed:
            state = instance_state(obj)
            previous = pending.lookup(state)
            if previous is not None and previous.written:
                new_op: Op | None = op  # its earlier event is written: this one is its own
            else:
                new_op = coalesce(previous.op if previous else None, op)
            payload = None if new_op is None else self._event(obj, new_op, values)
            conn = None
            if self.durable and payload is not None:
                mapper = state.mapper
                conn = conns.get(mapper)
                if conn is None:
                    conn = conns[mapper] = session.connection(bind_arguments={"mapper": mapper})
            frame[state] = Entry(new_op, payload=payload, conn=conn)
        if pending.written:
            self._write(session, pending)

    def _event(self, obj: Tracked, op: Op, values: dict[str, Any] | None) -> str | None:
        """The event's payload, or None while the flag is off for the row's group.

        `values` is the destroyed row's snapshot; a created or updated row is
        read now, after the flush: server generated values are loadable then.
        """
        cls = type(obj)
        group_attribute = cls.SNOWPLOW_GROUP_ATTRIBUTE
        group_id = getattr(obj, group_attribute) if group_attribute else None
        actor = None if group_id is None else f"Group:{group_id}"
        if not self.flags.enabled(FLAG, actor):
            return None
        try:
            if values is None:
                values = _snapshot(obj)
            return self.builder.build(
                category=cls.__name__,
                op=op,
                label=self._label(cls),
                extra=values,
                namespace_id=group_id if isinstance(group_id, int) else None,
            )
        except Exception as exc:
            # Like GitLab's tracking: a broken event must not fail the write.
            log.exception("building the %s event of %s failed; dropped", op, cls.__name__)
            self.counters.add("dropped")
            self.counters.error(f"building an event failed: {type(exc).__name__}: {exc}")
            return None

    def _label(self, cls: type[Tracked]) -> str:
        label = self._labels.get(cls)
        if label is None:
            label = self._labels[cls] = sa.inspect(cls).local_table.description
        return label

    # -- transaction ends -----------------------------------------------------------

    def _before_commit(self, session: Session) -> None:
        pending = self._pending(session)
        nested = session.get_nested_transaction()
        if nested is not None:
            # A savepoint's release, or the outermost transaction's commit()
            # with savepoints still open: SQLAlchemy then releases them, each
            # with its own before_commit, and the outermost's comes first.
            if pending.releasing is nested:
                pending.outer_committing = True
            pending.releasing = nested
            return
        session.flush()
        self._write(session, pending)

    def _write(self, session: Session, pending: Pending) -> None:
        """Insert the events not yet written, each on its mapper's connection."""
        pending.written = True
        entries = pending.unwritten()
        if entries and session.twophase:
            raise TrackingRefused(TWO_PHASE_REFUSED)
        rows: dict[Connection, list[str]] = {}
        for entry in entries:
            assert entry.conn is not None and entry.payload is not None
            rows.setdefault(entry.conn, []).append(entry.payload)
        for conn, payloads in rows.items():
            outbox.insert(conn, payloads)

    def _after_commit(self, session: Session) -> None:
        entries = self._pending(session).commit(boundary(session))
        if entries is not None:
            self.committed(entries)

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        # Committed frames are gone already; what is left ended without a
        # commit: rolled back, or closed with the session.
        if not (transaction.nested or transaction.parent is None):
            return
        pending = self._pending(session)
        pending.drop(transaction)
        if not transaction.nested:
            return
        if pending.releasing is transaction:
            pending.releasing = None
        if pending.outer_committing and session.get_nested_transaction() is None:
            # The last savepoint the outermost commit released: its own
            # before_commit came too early, this is the moment to write.
            pending.outer_committing = False
            outer = session.get_transaction()
            if outer is not None and outer.is_active:
                self._write(session, pending)

    # -- bulk statements ----------------------------------------------------------

    def _do_orm_execute(self, state: ORMExecuteState) -> None:
        if not (state.is_update or state.is_delete or state.is_insert):
            return
        mapper = state.bind_mapper
        if mapper is None or not issubclass(mapper.class_, Tracked):
            return
        kind = "update" if state.is_update else "delete" if state.is_delete else "insert"
        key = (mapper.class_.__name__, kind)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "a bulk %s on %s bypasses the unit of work: no database events are sent for it",
                kind,
                mapper.class_.__name__,
            )


def _snapshot(obj: Tracked) -> dict[str, Any]:
    # Straight from the instance dict where loaded, and plain values without
    # a call: this runs for every tracked row in every flush.
    loaded = instance_dict(obj)
    values: dict[str, Any] = {}
    for key in obj.SNOWPLOW_ATTRIBUTES:
        value = loaded[key] if key in loaded else getattr(obj, key)
        values[key] = value if type(value) in AS_IS else jsonable(value)
    return values


def live_payloads(entries: Iterable[Entry]) -> list[str]:
    return [entry.payload for entry in entries if entry.payload is not None]
