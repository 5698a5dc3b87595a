"""The sender: one thread per process posting batches to the Snowplow collector.

It claims a chunk of events from its source (the outbox, or the memory
queue), has `tracking.posting` post it to the collector, and settles the
chunk by what became of each event, with no database transaction open while
it posts. The protocol, the retry and dead-letter rules are in `posting`.

The thread starts on first use, not at install: a pre-fork server installs in
its master and every worker must run its own thread. After a fork the child
forgets the parent's thread, HTTP connections and locks, and starts its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import requests

from tracking.claims import Chunk, DeadLetterPolicy, Settlement
from tracking.counters import Counters
from tracking.posting import PAYLOAD_DATA_SCHEMA as PAYLOAD_DATA_SCHEMA
from tracking.posting import REJECTED as REJECTED
from tracking.posting import TP2_PATH as TP2_PATH
from tracking.posting import Poster, jittered
from tracking.posting import collector_endpoint as collector_endpoint
from tracking.posting import request_body as request_body

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderSettings:
    batch_size: int = 100  # events per POST
    # Batches claimed per database round trip: the claim's cost, not the
    # POST's, is what limits how fast the outbox drains.
    claim_batches: int = 5
    connect_timeout: float = 3.05
    read_timeout: float = 5.0
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    # How often an idle sender looks for rows other processes left behind.
    idle_interval: float = 2.0
    # Once caught up, how long to let new events gather before the next claim:
    # a busy writer then costs a claim, a post and a delete per batch, not per
    # commit, and the sender's work competes less with the application's
    # writes (bench/tracking_overhead.py: about 5 points of write rate over
    # 0.2 s). Events reach the collector about a second after their commit.
    # flush() and close() skip it.
    linger: float = 1.0
    report_interval: float = 1.0
    # A claim outlives the posts of all its batches, so no other sender takes
    # rows in flight.
    lease: float | None = None
    # A failing event becomes a dead letter after this many attempts, or
    # once this many seconds passed since it was committed (or requeued by
    # `rollout-bot tracking retry`); None: no limit. Halving a failing batch
    # down to one event takes log2(batch_size) + 1 attempts: keep the limit
    # above that.
    dead_letter_attempts: int | None = 20
    dead_letter_age: float | None = 2 * 24 * 3600.0

    @property
    def dead_letter_policy(self) -> DeadLetterPolicy:
        age = self.dead_letter_age
        return DeadLetterPolicy(
            max_attempts=self.dead_letter_attempts,
            max_age=None if age is None else dt.timedelta(seconds=age),
        )

    @property
    def lease_seconds(self) -> float:
        if self.lease is not None:
            return self.lease
        return (self.connect_timeout + self.read_timeout) * self.claim_batches + 5.0


class Source(Protocol):
    def claim(self, limit: int) -> Chunk | None: ...

    def depth(self) -> int: ...


class Sender:
    def __init__(
        self,
        source: Source,
        endpoint: str,
        counters: Counters,
        settings: SenderSettings,
        report: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.endpoint = endpoint
        self.counters = counters
        self.settings = settings
        self._report = report
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        # Held while the thread is inside a database transaction; a fork waits
        # for it, so no child inherits SQLite's bookkeeping of a lock that
        # nobody in the child will ever release.
        self.database_quiet = threading.Lock()
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._poster = Poster(self.endpoint, self.counters, self.settings)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="tracking-sender", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        # Every commit calls this: skip the event's lock while it is set
        # already (the thread clears it before it looks for work).
        if not self._wake.is_set():
            self._wake.set()

    def hurry(self) -> None:
        """Send what is waiting now, without lingering, until caught up."""
        self._hurry.set()
        self._wake.set()

    def wait_for_progress(self, timeout: float) -> None:
        """Return after the sender settled a batch or went idle, or after `timeout`."""
        with self._progress:
            self._progress.wait(timeout)

    def stop(self, timeout: float) -> bool:
        """Stop the thread; False when it was still busy (a request in flight) at the deadline."""
        self._stop.set()
        self._hurry.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def reset_after_fork(self) -> None:
        # The parent's sender thread does not exist here and its locks may be
        # held forever. Its HTTP session is left unclosed on purpose: closing
        # would take urllib3's pool lock, which that thread may have held.
        self._inherited = self._poster.http
        self._reset()

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        # The thread owns its HTTP session: it closes it however it ends, even
        # after a stop() that gave up waiting for a request in flight.
        http = self._poster.http = requests.Session()
        self._claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-claim")
        self._ahead: Future[Chunk | None] | None = None
        try:
            self._loop()
        finally:
            self._drop_ahead()
            self._claimer.shutdown(wait=True)
            http.close()
            self._notify_progress()

    def _loop(self) -> None:
        limit = self.settings.batch_size * self.settings.claim_batches
        while not self._stop.is_set():
            self._wake.clear()
            chunk, backlog, error = None, False, None
            try:
                chunk = self._next_chunk(limit)
                backlog = chunk is not None and len(chunk.items) >= limit
                if backlog:
                    # Claiming costs about as much as posting: the next chunk
                    # is claimed in the background while this one is posted.
                    self._ahead = self._claimer.submit(self._claim, limit)
                if chunk is not None:
                    error = self._deliver(chunk)
            except Exception as exc:
                # The one catch-all: the thread must outlive a database or
                # network outage and carry on where it stopped.
                log.exception("tracking sender failed; retrying after a backoff")
                error = f"sender: {type(exc).__name__}: {exc}"
                self.counters.error(error)
                self._poster.failures += 1
            if error is not None:
                self._drop_ahead()
            self._notify_progress()
            self._maybe_report()
            if error is not None:
                self._stop.wait(self._backoff())
            elif backlog:
                continue
            elif chunk is None:
                self._hurry.clear()
                self._wake.wait(self.settings.idle_interval)
            self._hurry.wait(self.settings.linger)

    def _claim(self, limit: int) -> Chunk | None:
        with self.database_quiet:
            return self.source.claim(limit)

    def _next_chunk(self, limit: int) -> Chunk | None:
        ahead, self._ahead = self._ahead, None
        return self._claim(limit) if ahead is None else ahead.result()

    def _drop_ahead(self) -> None:
        """Give back a chunk claimed ahead that is not going to be posted now."""
        ahead, self._ahead = self._ahead, None
        try:
            chunk = None if ahead is None else ahead.result()
            if chunk is not None:
                with self.database_quiet:
                    chunk.settle(Settlement())
        except Exception:
            # Whatever stays claimed is claimed again when its lease runs out.
            log.warning("tracking sender: giving back claimed events failed", exc_info=True)

    def _deliver(self, chunk: Chunk) -> str | None:
        """Post a chunk, then settle it; the error if a batch is to be retried."""
        settlement = Settlement(policy=self.settings.dead_letter_policy)
        try:
            self._poster.deliver(chunk, settlement, self._stop.is_set)
        finally:
            # Even after an unexpected error: what was sent is settled as sent.
            with self.database_quiet:
                chunk.settle(settlement)
        return settlement.error

    def _backoff(self) -> float:
        return jittered(self.settings, self._poster.failures)

    def _notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _maybe_report(self) -> None:
        if self._report is None:
            return
        try:
            with self.database_quiet:
                self._report()
        except Exception:
            log.warning("writing tracking counters failed", exc_info=True)
