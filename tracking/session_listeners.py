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

In durable mode the events reach the outbox at the last moment the database
transaction is still open: the commit itself (`tracking.commit_hook` wraps
the dialect's `do_commit`) inserts what the frames then hold, on the same
connection. The change and its events commit or roll back together, and the
outbox sees one insert per transaction, never a row an earlier flush wrote
and a later one rewrote or a savepoint rollback took back. When the session
does not own its connection's transaction (it was bound to a connection
inside an external transaction), its commit ends no database transaction:
the events are written then, into that external transaction.

Bulk `update()`, `delete()` and `insert()` statements do not go through the
unit of work and send nothing; a warning says so once per table and kind.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction
from sqlalchemy.orm.attributes import instance_dict, instance_state

from flags.engine import Flags
from tracking import commit_hook, outbox
from tracking.counters import Counters
from tracking.payload import AS_IS, Op, PayloadBuilder, jsonable
from tracking.pending import Entry, Pending, Tracked, boundary, coalesce

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
        # Durable mode: per DBAPI connection (SQLAlchemy's pool proxy, as
        # do_commit receives it), the sessions whose events its commit writes.
        self._open: weakref.WeakKeyDictionary[Any, list[tuple[Connection, Pending]]] = (
            weakref.WeakKeyDictionary()
        )

    def listen(self, target: Any) -> None:
        for name, listener in self._listeners:
            sa.event.listen(target, name, listener)

    def remove(self, target: Any) -> None:
        for name, listener in self._listeners:
            if sa.event.contains(target, name, listener):
                sa.event.remove(target, name, listener)
        commit_hook.detach(self)

    def watch(self, engine: Engine) -> None:
        """Have the commits of `engine`'s connections write outbox rows (durable mode)."""
        commit_hook.attach(engine.dialect, self)

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
            new_op = coalesce(previous.op if previous else None, op)
            payload = None if new_op is None else self._event(obj, new_op, values)
            conn = None
            if self.durable and payload is not None:
                mapper = state.mapper
                conn = conns.get(mapper)
                if conn is None:
                    conn = conns[mapper] = session.connection(bind_arguments={"mapper": mapper})
                    self._expect_commit(conn, pending)
            frame[state] = Entry(new_op, payload=payload, conn=conn)

    def _expect_commit(self, conn: Connection, pending: Pending) -> None:
        """Have the commit of `conn`'s transaction write `pending`'s events there."""
        key = conn.connection
        waiting = self._open.get(key)
        if waiting is None:
            # Looked up by the connection at each commit: attached during a
            # flush, it still serves this transaction.
            commit_hook.attach(conn.dialect, self)
            self._open[key] = [(conn, pending)]
        elif not any(other is pending for _, other in waiting):
            waiting.append((conn, pending))
        if not any(other is conn for other in pending.waiting_on):
            pending.waiting_on.append(conn)

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

    def take(self, dbapi_connection: Any) -> list[str]:
        """The events the transaction `dbapi_connection` commits now owes (commit_hook)."""
        waiting = self._open.pop(dbapi_connection, None)
        if waiting is None:
            return []
        payloads: list[str] = []
        for conn, pending in waiting:
            for entry in pending.merged().values():
                if entry.payload is not None and entry.conn is conn:
                    payloads.append(entry.payload)
            pending.stored.add(conn)
        return payloads

    def _after_commit(self, session: Session) -> None:
        pending = self._pending(session)
        entries = pending.commit(boundary(session))
        if entries is None:
            return
        stored, pending.stored, pending.waiting_on = pending.stored, set(), []
        if self.durable:
            entries = self._store_late(entries, stored, pending)
        self.committed(entries)

    def _store_late(
        self, entries: list[Entry], stored: set[Connection], pending: Pending
    ) -> list[Entry]:
        """Write the events no database commit took: the session's connection was
        inside an external transaction, which is still open; they join it.
        """
        late: dict[Connection, list[str]] = {}
        for entry in entries:
            if entry.conn is not None and entry.conn not in stored and entry.payload is not None:
                late.setdefault(entry.conn, []).append(entry.payload)
        if not late:
            return entries
        lost: set[Connection] = set()
        for conn, payloads in late.items():
            self._unregister(conn, pending)
            if not conn.closed and conn.in_transaction():
                outbox.insert(conn, payloads)
                continue
            # Not expected: a transaction committed without our listener hearing it.
            lost.add(conn)
            log.error("%d database events lost: their transaction ended unseen", len(payloads))
            self.counters.add("dropped", len(payloads))
            self.counters.error(f"{len(payloads)} events lost: their transaction ended unseen")
        return [entry for entry in entries if entry.conn not in lost]

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        # Committed frames are gone already; what is left ended without a
        # commit: rolled back, or closed with the session.
        if transaction.nested or transaction.parent is None:
            pending = self._pending(session)
            if transaction.parent is None:
                self._forget(pending)
            pending.drop(transaction)

    def _forget(self, pending: Pending) -> None:
        """The transaction ended without a commit: its connections owe nothing for it."""
        for conn in pending.waiting_on:
            self._unregister(conn, pending)

    def _unregister(self, conn: Connection, pending: Pending) -> None:
        """Forget that `pending` waits on `conn`'s commit."""
        if conn.closed:
            return  # its pool proxy is gone: so is the weak entry
        key = conn.connection
        waiting = self._open.get(key)
        if waiting is None:
            return
        remaining = [(c, p) for c, p in waiting if p is not pending]
        if remaining:
            self._open[key] = remaining
        else:
            self._open.pop(key, None)

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
