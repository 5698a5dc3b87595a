"""Tracking's series for `GET /metrics`, read from the database at scrape time.

As `webhook/metrics.py` does for the inbox: the event counters are the sums of
every sender's row in `tracking_senders`, except `sent`, which comes from the
per-hour counts settling writes (`tracking_sent_hourly`, by table and
operation, exact even when a sender dies before it reports); the depth and
the dead letters are counts of the outbox. Every `serve` and `worker` process
reports the same truth, whether or not it sends events itself. Register a
`TrackingCollector` with the app's registry
(`create_app(..., collectors=[TrackingCollector(engine)])`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from tracking import sent_counts
from tracking.counters import NAMES
from tracking.status import read_status

PREFIX = "rollout_bot_tracking"

HELP = {
    "queued": "Database events committed to the outbox.",
    "sent": "Events the collector accepted, by tracked table and operation.",
    "retried": "Event sends that failed and were retried (5xx, timeout, refused connection).",
    "rejected": "Events the collector refused for good (400, 401, 403, 410, 422), dropped.",
    "dropped": "Events dropped before sending (memory queue full, event not buildable).",
}

SENT_LABELS = ("table", "op")


class TrackingCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = dt.datetime.now(dt.UTC)
        status = read_status(self.engine, now)
        for name in NAMES:
            if name == "sent":
                sent = CounterMetricFamily(f"{PREFIX}_events_sent", HELP[name], labels=SENT_LABELS)
                for (table, op), events in sent_counts.totals(self.engine).items():
                    sent.add_metric([table, op], events)
                yield sent
                continue
            counter = CounterMetricFamily(f"{PREFIX}_events_{name}", HELP[name])
            counter.add_metric([], status.totals[name])
            yield counter
        depth = GaugeMetricFamily(f"{PREFIX}_outbox_depth", "Events waiting in the outbox.")
        depth.add_metric([], status.waiting)
        yield depth
        dead = GaugeMetricFamily(
            f"{PREFIX}_dead_letters",
            "Events the senders gave up on, kept until `rollout-bot tracking retry`.",
        )
        dead.add_metric([], status.dead)
        yield dead
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
