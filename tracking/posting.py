"""Posting a claimed chunk to the collector and noting what became of each event.

One `payload_data` document per batch to `/com.snowplowanalytics.snowplow/tp2`
(https://docs.snowplow.io/docs/sources/trackers/snowplow-tracker-protocol/),
settled by the answer as snowplow-tracker's Emitter does: 2xx delivered,
400/401/403/410/422 rejected for good (dropped and counted), anything else
(5xx, a timeout, a refused connection) retried after an exponential backoff
with jitter. The payloads are stored whole, so a retry sends the same event
ids; only `stm`, the sent timestamp, is set per attempt.

Nothing here lets one event jam the rest. A batch answered 413 is halved and
posted again, down to single events; a single event answered 413 is a dead
letter. A failed batch's rows wait out their backoff (`next_attempt_at`)
while later events go ahead; they come back in batches of their own, halved
on each further failure, so an event the collector keeps failing on ends up
alone and stops holding others back. Past `dead_letter_attempts` or
`dead_letter_age` it becomes a dead letter (`tracking.dead_letters`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import requests

from tracking.claims import Chunk, Item, Settlement
from tracking.counters import Counters

if TYPE_CHECKING:
    from tracking.sender import SenderSettings

log = logging.getLogger(__name__)

PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
TP2_PATH = "/com.snowplowanalytics.snowplow/tp2"
# Snowplow's Emitter never retries these; neither do we.
REJECTED = frozenset({400, 401, 403, 410, 422})
TOO_LARGE = 413
TOO_LARGE_ALONE = "{error}: the event alone is too large for the collector; kept as a dead letter"
HEADERS = {"Content-Type": "application/json; charset=utf-8"}


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


def jittered(settings: SenderSettings, failures: int) -> float:
    """Exponential with equal jitter: half fixed, half random, capped."""
    exponent = min(max(0, failures - 1), 62)
    ceiling = min(settings.backoff_cap, settings.backoff_base * 2.0**exponent)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Poster:
    """Posts chunks over the sender thread's HTTP session; `failures` in a row drive its backoff."""

    def __init__(self, endpoint: str, counters: Counters, settings: SenderSettings) -> None:
        self.endpoint = endpoint
        self.counters = counters
        self.settings = settings
        self.http: requests.Session | None = None
        self.failures = 0

    def deliver(self, chunk: Chunk, settlement: Settlement, stopped: Callable[[], bool]) -> None:
        """Post a chunk batch by batch, noting in `settlement` what became of its events.

        From a failed batch on (`settlement.error` set), the rest goes back
        to the outbox untouched.
        """
        for batch in self._batches(chunk):
            if stopped() or self._send(batch, chunk, settlement) is not None:
                break

    def _batches(self, chunk: Chunk) -> Iterator[list[Item]]:
        """Fresh events first; events that failed before apart, in halving batches."""
        full = self.settings.batch_size
        ordered = sorted(chunk.items, key=lambda item: chunk.attempts(item[0]))
        for attempts, group in itertools.groupby(ordered, key=lambda i: chunk.attempts(i[0])):
            rows = list(group)
            size = max(1, full >> min(max(0, attempts - 1), 62))
            for start in range(0, len(rows), size):
                yield rows[start : start + size]

    def _send(self, batch: list[Item], chunk: Chunk, settlement: Settlement) -> str | None:
        """Post one batch and note the outcome; the error when it is to be retried."""
        status, error = self._post(batch)
        if status is not None and 200 <= status < 300:
            settlement.sent.extend(batch)
            self.counters.add("sent", len(batch))
            self.failures = 0
            return None
        assert error is not None
        if status == TOO_LARGE:
            if len(batch) > 1:
                half = (len(batch) + 1) // 2
                log.info("%s: posting the %d events as two halves", error, len(batch))
                return self._send(batch[:half], chunk, settlement) or self._send(
                    batch[half:], chunk, settlement
                )
            reason = TOO_LARGE_ALONE.format(error=error)
            settlement.dead[batch[0][0]] = reason
            self.counters.error(reason)
            log.warning("%s: event %s", reason, event_id(batch[0][1]))
            return None
        if status in REJECTED:
            settlement.dropped.extend(key for key, _ in batch)
            self.counters.add("rejected", len(batch))
            self.counters.error(f"{error}: {len(batch)} events rejected and dropped")
            log.warning(
                "%s: dropped %d events for good: %s",
                error,
                len(batch),
                ", ".join(event_id(payload) for _, payload in batch),
            )
            self.failures = 0
            return None
        attempts = max(chunk.attempts(key) for key, _ in batch) + 1
        settlement.failed.extend(key for key, _ in batch)
        settlement.error = error
        backoff = dt.timedelta(seconds=jittered(self.settings, attempts))
        settlement.retry_at = dt.datetime.now(dt.UTC) + backoff
        self.counters.add("retried", len(batch))
        self.counters.error(error)
        self.failures += 1
        log.info("%s; %d events to retry after a backoff", error, len(batch))
        return error

    def _post(self, batch: Sequence[Item]) -> tuple[int | None, str | None]:
        http = self.http
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


def event_id(payload: str) -> str:
    try:
        return str(json.loads(payload).get("eid"))
    except ValueError:
        return "?"
