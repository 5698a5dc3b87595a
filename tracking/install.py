"""`install()`: the one call a host application makes at start-up, and its `Tracker`."""

from __future__ import annotations

import logging
import os
import time
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.engine import Flags
from flags.errors import Refusal
from flags.sql_store import SqlStore
from flags.store import refuse_instance_environment
from tracking.counters import Counters, Reporter, Snapshot
from tracking.memory import MemoryQueue
from tracking.outbox import Outbox
from tracking.payload import DEFAULT_SOURCE, PayloadBuilder
from tracking.pending import Entry
from tracking.refusals import AUTOCOMMIT_REFUSED, TWO_PHASE_REFUSED, TrackingRefused, autocommit
from tracking.schema import outbox as outbox_table
from tracking.sender import Sender, SenderSettings, collector_endpoint
from tracking.session_listeners import DatabaseEvents, live_payloads

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 10_000


class Tracker:
    """An installed tracker: its sender, its counters, and how to stop it."""

    def __init__(
        self,
        target: Any,
        events: DatabaseEvents,
        source: Outbox | MemoryQueue,
        sender: Sender,
        counters: Counters,
        reporter: Reporter | None,
        engines: list[Engine],
        owned_engine: Engine | None,
    ) -> None:
        self._target = target
        self._events = events
        self._source = source
        self._sender = sender
        self.counters = counters
        self._reporter = reporter
        self._engines = engines
        self._owned_engine = owned_engine
        self.closed = False
        _after_fork.add(self)

    @property
    def durable(self) -> bool:
        return isinstance(self._source, Outbox)

    @property
    def endpoint(self) -> str:
        return self._sender.endpoint

    def start(self) -> None:
        """Start sending now; otherwise the first commit in the process starts it."""
        self._sender.start()

    def depth(self) -> int:
        """Events waiting: outbox rows (every process's), or this process's queue."""
        return self._source.depth()

    def snapshot(self) -> Snapshot:
        return self.counters.snapshot()

    def flush(self, timeout: float = 10.0) -> int:
        """Wait until every waiting event is delivered or dropped; the number left."""
        deadline = time.monotonic() + timeout
        self._sender.start()
        while True:
            self._sender.hurry()
            left = self._source.depth()
            remaining = deadline - time.monotonic()
            if left == 0 or remaining <= 0:
                return left
            # Re-count at least every 0.1 s: rows other processes add or send
            # do not notify this sender.
            self._sender.wait_for_progress(min(remaining, 0.1))

    def close(self, timeout: float = 10.0) -> int:
        """Stop tracking, drain within `timeout`; the number of events left waiting.

        In durable mode what is left stays in the outbox for the next sender.
        """
        if self.closed:
            return self._source.depth()
        self.closed = True
        deadline = time.monotonic() + timeout
        self._events.remove(self._target)
        self.flush(timeout)
        if not self._sender.stop(max(0.0, deadline - time.monotonic())):
            log.warning("tracking sender still busy at close (a request in flight)")
        left = self._source.depth()
        if self._reporter is not None:
            try:
                self._reporter.report()
            except Exception:
                log.warning("writing tracking counters at close failed", exc_info=True)
        if self._owned_engine is not None:
            self._owned_engine.dispose()
        _after_fork.discard(self)
        if left:
            where = "in the outbox" if self.durable else "in memory, lost"
            log.warning("tracking closed with %d events left %s", left, where)
        return left

    def _committed(self, entries: list[Entry]) -> None:
        sender = self._sender
        sender.start()
        if not entries:
            return
        if isinstance(self._source, MemoryQueue):
            queued = self._source.put(live_payloads(entries))
        else:
            queued = len(entries)
        self.counters.add("queued", queued)
        sender.wake()

    def _after_fork_in_child(self) -> None:
        self.counters.reset_after_fork()
        self._source.reset_after_fork(self.counters.process)
        if self._reporter is not None:
            self._reporter.reset_after_fork()
        self._sender.reset_after_fork()
        for engine in self._engines:
            # SQLAlchemy's advice for a forked child: a fresh pool, without
            # closing the parent's connections under it.
            engine.dispose(close=False)


class _ForkHook:
    """Resets every live tracker in a forked child; registered with the OS once, lazily."""

    def __init__(self) -> None:
        self._trackers: weakref.WeakSet[Tracker] = weakref.WeakSet()
        self._forking: list[Tracker] = []
        self._registered = False

    def add(self, tracker: Tracker) -> None:
        if not self._registered:
            os.register_at_fork(
                before=self._before,
                after_in_parent=self._after_in_parent,
                after_in_child=self._child,
            )
            self._registered = True
        self._trackers.add(tracker)

    def discard(self, tracker: Tracker) -> None:
        self._trackers.discard(tracker)

    def _before(self) -> None:
        self._forking = list(self._trackers)
        for tracker in self._forking:
            tracker._sender.database_quiet.acquire()

    def _after_in_parent(self) -> None:
        for tracker in self._forking:
            tracker._sender.database_quiet.release()
        self._forking = []

    def _child(self) -> None:
        for tracker in self._forking:
            tracker._after_fork_in_child()
        self._forking = []


_after_fork = _ForkHook()


def _bind(session_factory: Any) -> Engine | None:
    bind = getattr(session_factory, "kw", {}).get("bind")
    return bind if isinstance(bind, Engine) else None


def install(
    session_factory: Any,
    *,
    collector: str,
    app_id: str,
    flags: Flags | None = None,
    flags_url: str | None = None,
    environment: str = "production",
    engine: Engine | None = None,
    durable: bool = True,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    settings: SenderSettings | None = None,
    source: str = DEFAULT_SOURCE,
) -> Tracker:
    """Track `group_stages` (and every `DatabaseEventTracking` model) on `session_factory`.

    `session_factory` is a `sessionmaker` or a `Session` subclass; the
    listeners go on it and on nothing else. The flag is read through `flags`,
    or through a `Flags` built on `flags_url` with the configured definitions,
    in `environment` (also the context's `environment`). `engine` is the
    database of the outbox, by default the factory's bind: it must hold the
    `tracking_outbox` table (run the migrations, or `tracking.create_tables`).
    With `durable=False` events wait in a bounded memory queue instead.
    """
    settings = settings or SenderSettings()
    owned_engine = None
    if flags is not None:
        # The instance evaluates its own flags; events gated on the bot's copy would lie.
        refuse_instance_environment(flags.store, environment, "tracking.install")
    else:
        if flags_url is None:
            raise TypeError("install() needs flags= (a flags.Flags) or flags_url= (its database)")
        owned_engine = make_engine(flags_url)
        store = SqlStore(owned_engine)
        try:
            refuse_instance_environment(store, environment, "tracking.install")
        except Refusal:
            owned_engine.dispose()
            raise
        flags = Flags(store, load(configured_roots()), environment)
    counters = Counters()
    reporter = None
    engines = [owned_engine] if owned_engine is not None else []
    outbox_engine = engine or _bind(session_factory)
    source_: Outbox | MemoryQueue
    if durable:
        if outbox_engine is None:
            raise TypeError("install() needs engine= when the session factory has no bind")
        if getattr(session_factory, "kw", {}).get("twophase"):
            raise TrackingRefused(TWO_PHASE_REFUSED)
        binds = [outbox_engine, _bind(session_factory)]
        if any(bind is not None and autocommit(bind) for bind in binds):
            raise TrackingRefused(AUTOCOMMIT_REFUSED)
        if not sa.inspect(outbox_engine).has_table(outbox_table.name):
            raise RuntimeError(
                f"{outbox_table.name} is missing: run `rollout-bot db upgrade` "
                "or tracking.create_tables(engine)"
            )
        source_ = Outbox(outbox_engine, counters.process, settings.lease_seconds)
        reporter = Reporter(outbox_engine, counters, settings.report_interval)
        engines.append(outbox_engine)
    else:
        source_ = MemoryQueue(queue_size, counters)
    sender = Sender(
        source_,
        collector_endpoint(collector),
        counters,
        settings,
        report=reporter.maybe_report if reporter else None,
    )
    builder = PayloadBuilder(app_id=app_id, environment=environment, source=source)
    tracker: Tracker
    events = DatabaseEvents(
        flags=flags,
        builder=builder,
        durable=durable,
        counters=counters,
        committed=lambda entries: tracker._committed(entries),
    )
    tracker = Tracker(
        session_factory, events, source_, sender, counters, reporter, engines, owned_engine
    )
    events.listen(session_factory)
    return tracker
