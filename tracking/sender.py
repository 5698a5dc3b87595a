"""The sender: one thread per process posting batches to the Snowplow collector.

It claims a chunk of events from its source (the outbox, or the memory
queue), POSTs it batch by batch to `/com.snowplowanalytics.snowplow/tp2`, one
`payload_data` document per batch
(https://docs.snowplow.io/docs/sources/trackers/snowplow-tracker-protocol/),
and settles each batch by the answer, as snowplow-tracker's Emitter does: 2xx
delivered, 400/401/403/410/422 rejected for good (dropped and counted),
anything else (5xx, a timeout, a refused connection) retried after an
exponential backoff with jitter. The payloads are stored whole, so a retry
sends the same event ids; only `stm`, the sent timestamp, is set per attempt.

The thread starts on first use, not at install: a pre-fork server installs in
its master and every worker must run its own thread. After a fork the child
forgets the parent's thread, HTTP connections and locks, and starts its own.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import requests

from tracking.counters import Counters
from tracking.outbox import Chunk, Item

log = logging.getLogger(__name__)

PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
TP2_PATH = "/com.snowplowanalytics.snowplow/tp2"
# Snowplow's Emitter never retries these; neither do we.
REJECTED = frozenset({400, 401, 403, 410, 422})
HEADERS = {"Content-Type": "application/json; charset=utf-8"}


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

    @property
    def lease_seconds(self) -> float:
        if self.lease is not None:
            return self.lease
        return (self.connect_timeout + self.read_timeout) * self.claim_batches + 5.0


class Source(Protocol):
    def claim(self, limit: int) -> Chunk | None: ...

    def depth(self) -> int: ...


def collector_endpoint(collector: str) -> str:
    """`https://host` for a bare host, as snowplow-tracker's Emitter reads it."""
    base = collector.rstrip("/")
    if "://" not in base:
        base = f"https://{base}"
    return base + TP2_PATH


def request_body(batch: Sequence[Item], sent_at_ms: int) -> bytes:
    # Each stored payload is a JSON object; splicing `stm` in before its closing
    # brace avoids a parse and a dump per event per attempt.
    stm = f', "stm": "{sent_at_ms}"}}'
    events = ",".join(payload[:-1] + stm for _, payload in batch)
    return f'{{"schema": "{PAYLOAD_DATA_SCHEMA}", "data": [{events}]}}'.encode()


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
        self._http: requests.Session | None = None
        self._failures = 0

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
        self._inherited = self._http
        self._reset()

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        # The thread owns its HTTP session: it closes it however it ends, even
        # after a stop() that gave up waiting for a request in flight.
        self._http = requests.Session()
        self._claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-claim")
        self._ahead: Future[Chunk | None] | None = None
        try:
            self._loop()
        finally:
            self._drop_ahead()
            self._claimer.shutdown(wait=True)
            self._http.close()
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
                self._failures += 1
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
                    chunk.finish(0, None)
        except Exception:
            # Whatever stays claimed is claimed again when its lease runs out.
            log.warning("tracking sender: giving back claimed events failed", exc_info=True)

    def _deliver(self, chunk: Chunk) -> str | None:
        """Post a chunk batch by batch, then settle it; the error if a batch is to be retried.

        Delivered and rejected batches are deleted; from a failed batch on,
        the rest goes back to the outbox for the next attempt.
        """
        size = self.settings.batch_size
        done, error = 0, None
        try:
            for start in range(0, len(chunk.items), size):
                if self._stop.is_set():
                    break
                batch = chunk.items[start : start + size]
                error = self._send(batch)
                if error is not None:
                    break
                done += len(batch)
        finally:
            with self.database_quiet:
                chunk.finish(done, error)
        return error

    def _send(self, batch: list[Item]) -> str | None:
        """Post one batch; None when it is settled (sent, or rejected for good)."""
        status, error = self._post(batch)
        if status is not None and 200 <= status < 300:
            self.counters.add("sent", len(batch))
            self._failures = 0
            return None
        if status in REJECTED:
            self.counters.add("rejected", len(batch))
            self.counters.error(f"{error}: {len(batch)} events rejected and dropped")
            log.warning(
                "%s: dropped %d events for good: %s",
                error,
                len(batch),
                ", ".join(_event_id(payload) for _, payload in batch),
            )
            self._failures = 0
            return None
        assert error is not None
        self.counters.add("retried", len(batch))
        self.counters.error(error)
        self._failures += 1
        log.info("%s; %d events to retry after a backoff", error, len(batch))
        return error

    def _post(self, batch: Sequence[Item]) -> tuple[int | None, str | None]:
        http = self._http
        assert http is not None
        body = request_body(batch, int(time.time() * 1000))
        try:
            response = http.post(
                self.endpoint,
                data=body,
                headers=HEADERS,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
            # Reading the body hands the connection back to the pool for reuse.
            response.content  # noqa: B018
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__} posting to {self.endpoint}: {exc}"
        status = response.status_code
        return status, None if 200 <= status < 300 else f"HTTP {status} from {self.endpoint}"

    def _backoff(self) -> float:
        """Exponential with equal jitter: half fixed, half random, capped."""
        ceiling = min(
            self.settings.backoff_cap,
            self.settings.backoff_base * 2.0 ** max(0, self._failures - 1),
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

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


def _event_id(payload: str) -> str:
    try:
        return str(json.loads(payload).get("eid"))
    except ValueError:
        return "?"
