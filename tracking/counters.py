"""What one process's tracking did: events queued, sent, retried, rejected, dropped.

Application threads count what they queue and drop; the sender counts the
rest. Each process writes its own row of `tracking_senders` (never a shared
row, so committing writers never wait on each other for a counter), and
`rollout-bot tracking status` sums the rows.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracking.schema import senders

NAMES = ("queued", "sent", "retried", "rejected", "dropped")


def process_key() -> str:
    """Unique per process start (pids are reused), readable in `tracking status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Snapshot:
    queued: int = 0
    sent: int = 0
    retried: int = 0
    rejected: int = 0
    dropped: int = 0
    last_error: str | None = None
    last_error_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["last_error_at"] = self.last_error_at.isoformat() if self.last_error_at else None
        return data


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(NAMES, 0)
        self._last_error: str | None = None
        self._last_error_at: dt.datetime | None = None
        self._version = 0
        self.process = process_key()
        self.started_at = dt.datetime.now(dt.UTC)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._values[name] += count
            self._version += 1

    def error(self, message: str) -> None:
        with self._lock:
            self._last_error = message
            self._last_error_at = dt.datetime.now(dt.UTC)
            self._version += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                **self._values, last_error=self._last_error, last_error_at=self._last_error_at
            )

    @property
    def version(self) -> int:
        """Bumped by every change; the reporter writes only when it moved."""
        return self._version

    def reset_after_fork(self) -> None:
        # A child starts from zero under its own key: the parent's counts stay the parent's.
        self._lock = threading.Lock()
        self._values = dict.fromkeys(NAMES, 0)
        self._last_error = None
        self._last_error_at = None
        self._version = 0
        self.process = process_key()
        self.started_at = dt.datetime.now(dt.UTC)


class Reporter:
    """Writes a process's counters to its `tracking_senders` row, at most every `interval`."""

    def __init__(self, engine: Engine, counters: Counters, interval: float) -> None:
        self.engine = engine
        self.counters = counters
        self.interval = interval
        self._reported_version = -1
        self._next = 0.0

    def maybe_report(self) -> None:
        if time.monotonic() >= self._next and self.counters.version != self._reported_version:
            self.report()

    def report(self) -> None:
        version = self.counters.version
        snapshot = self.counters.snapshot()
        values = {
            **{name: getattr(snapshot, name) for name in NAMES},
            "last_error": snapshot.last_error,
            "last_error_at": snapshot.last_error_at,
            "reported_at": dt.datetime.now(dt.UTC),
        }
        key = self.counters.process
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(senders).where(senders.c.process == key).values(values)
            ).rowcount
            if not updated:
                conn.execute(
                    sa.insert(senders).values(
                        process=key, started_at=self.counters.started_at, **values
                    )
                )
        self._reported_version = version
        self._next = time.monotonic() + self.interval

    def reset_after_fork(self) -> None:
        self._reported_version = -1
        self._next = 0.0
