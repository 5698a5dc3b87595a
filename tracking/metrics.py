"""Tracking's series for `GET /metrics`, read from the database at scrape time.

As `webhook/metrics.py` does for the inbox: the event counters are the sums of
every sender's row in `tracking_senders` and the depth is a count of the
outbox, so every `serve` and `worker` process reports the same truth, whether
or not it sends events itself. Register a `TrackingCollector` with the app's
registry (`create_app(..., collectors=[TrackingCollector(engine)])`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from tracking.counters import NAMES
from tracking.status import read_status

PREFIX = "rollout_bot_tracking"

HELP = {
    "queued": "Database events committed to the outbox.",
    "sent": "Events the collector accepted.",
    "retried": "Event sends that failed and were retried (5xx, timeout, refused connection).",
    "rejected": "Events the collector refused for good (400, 401, 403, 410, 422), dropped.",
    "dropped": "Events dropped before sending (memory queue full, event not buildable).",
}


class TrackingCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = dt.datetime.now(dt.UTC)
        status = read_status(self.engine, now)
        for name in NAMES:
            counter = CounterMetricFamily(f"{PREFIX}_events_{name}", HELP[name])
            counter.add_metric([], status.totals[name])
            yield counter
        depth = GaugeMetricFamily(f"{PREFIX}_outbox_depth", "Events waiting in the outbox.")
        depth.add_metric([], status.waiting)
        yield depth
        age = GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_age_seconds", "Age of the oldest waiting event (0: none)."
        )
        age.add_metric([], (now - status.oldest).total_seconds() if status.oldest else 0.0)
        yield age
        senders = GaugeMetricFamily(
            f"{PREFIX}_senders_active", "Sender processes that reported in the last minute."
        )
        senders.add_metric([], status.active)
        yield senders
        if status.last_error_at is not None:
            error = GaugeMetricFamily(
                f"{PREFIX}_last_error_timestamp_seconds", "When a sender last failed (Unix time)."
            )
            error.add_metric([], status.last_error_at.timestamp())
            yield error
