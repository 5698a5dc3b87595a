"""One session's uncommitted events: a frame per open transaction and savepoint.

Kept apart from the listeners that fill it: this is the bookkeeping of which
event each object owes, as transactions and savepoints open, release, commit
and roll back; `tracking.session_listeners` decides when each of those happens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.state import InstanceState

from tracking.model import DatabaseEventTracking
from tracking.payload import Op

Tracked = DatabaseEventTracking


@dataclass(frozen=True)
class Entry:
    """The event an object owes at commit, as of its last flush."""

    op: Op | None  # None: created and destroyed in this transaction
    payload: str | None = None  # None: nothing to send (no op, or the flag is off)
    conn: Connection | None = None  # durable mode: where its outbox row goes
    written: bool = False  # durable mode: its outbox row is in the transaction already

    @property
    def live(self) -> bool:
        return self.payload is not None


Frame = dict[InstanceState[Any], Entry]


def coalesce(previous: Op | None, new: Op) -> Op | None:
    """One event per object per transaction, as Rails' after_commit callbacks give."""
    if previous == "create":
        return None if new == "destroy" else "create"
    return new


def boundary(session: Session) -> SessionTransaction:
    """The savepoint or outermost transaction a flush writes in."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None
    return transaction


class Pending:
    """One session's uncommitted events: a frame per open transaction and savepoint."""

    def __init__(self) -> None:
        self.stack: list[tuple[SessionTransaction, Frame]] = []
        # Between after_flush and after_flush_postexec: (object, op, values or None).
        self.flushed: list[tuple[Tracked, Op, dict[str, Any] | None]] = []
        # Durable mode: the outermost commit has written the outbox rows; a
        # flush after that (another before_commit listener's) writes its own.
        self.written = False
        # The savepoint the last before_commit saw open, and whether a second
        # before_commit with it still open showed the first one was the
        # outermost transaction's (`transaction.commit()` with savepoints open).
        self.releasing: SessionTransaction | None = None
        self.outer_committing = False
        # The transaction whose session and connection were checked (two-phase, AUTOCOMMIT).
        self.checked: SessionTransaction | None = None

    def unwritten(self) -> list[Entry]:
        """The live entries without their outbox row yet, marked written from now on."""
        found: list[Entry] = []
        for _, frame in self.stack:
            for state, entry in frame.items():
                if entry.live and not entry.written:
                    found.append(entry)
                    frame[state] = replace(entry, written=True)
        return found

    def merged(self) -> Frame:
        merged: Frame = {}
        for _, frame in self.stack:
            merged.update(frame)
        return merged

    def frame(self, boundary: SessionTransaction) -> Frame:
        if self.stack and self.stack[-1][0] is boundary:
            return self.stack[-1][1]
        chain: list[SessionTransaction] = []
        transaction: SessionTransaction | None = boundary
        while transaction is not None:
            if transaction.nested or transaction.parent is None:
                chain.append(transaction)
            transaction = transaction.parent
        known = {id(t): frame for t, frame in self.stack}
        self.stack = [(t, known.get(id(t), {})) for t in reversed(chain)]
        return self.stack[-1][1]

    def lookup(self, state: InstanceState[Any]) -> Entry | None:
        for _, frame in reversed(self.stack):
            entry = frame.get(state)
            if entry is not None:
                return entry
        return None

    def index(self, transaction: SessionTransaction) -> int | None:
        for i, (t, _) in enumerate(self.stack):
            if t is transaction:
                return i
        return None

    def commit(self, transaction: SessionTransaction) -> list[Entry] | None:
        """Merge a released savepoint into its parent; the live entries of an outer commit."""
        i = self.index(transaction)
        if i is None:
            if transaction.parent is not None:
                return None
            self.reset()
            return []
        if i > 0:
            self.stack[i - 1][1].update(self.stack[i][1])
            del self.stack[i:]
            return None
        merged = self.merged()
        self.reset()
        return [entry for entry in merged.values() if entry.live]

    def reset(self) -> None:
        """The outermost transaction ended: nothing is owed any more."""
        self.stack = []
        self.written = False
        self.releasing = None
        self.outer_committing = False
        self.checked = None

    def drop(self, transaction: SessionTransaction) -> None:
        i = self.index(transaction)
        if i is not None:
            del self.stack[i:]
        if transaction.parent is None:
            self.reset()
        # A flush that failed half-way left no changes behind to report.
        self.flushed = []
