"""`GET /metrics`: Prometheus text exposition, read from the database at scrape time.

Counts come from the inbox table rather than in-process counters, so every
`serve` and `worker` process reports the same truth. Other packages (tracking)
add their own collectors to the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from flags.database import writer_turn_timeouts
from flags.engine import Flags
from flags.sql_store import SqlStore
from webhook import inbox

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class InboxCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "rollout_bot_inbox_deliveries", "Webhook deliveries in the inbox", labels=["status"]
        )
        counts = inbox.counts(self.engine)
        for status in (inbox.PENDING, inbox.PROCESSING, inbox.DONE, inbox.FAILED):
            deliveries.add_metric([status], counts.get(status, 0))
        yield deliveries
        version = GaugeMetricFamily(
            "rollout_bot_flag_state_version", "Changes committed to flag state so far"
        )
        version.add_metric([], SqlStore(self.engine).version())
        yield version
        turns = CounterMetricFamily(
            "rollout_bot_sqlite_writer_turn_timeouts",
            "Writers of this process that gave up waiting for SQLite's write turn",
        )
        turns.add_metric([], writer_turn_timeouts())
        yield turns


def registry(engine: Engine, extra: Iterable[Collector] = ()) -> CollectorRegistry:
    made = CollectorRegistry(auto_describe=False)
    made.register(InboxCollector(engine))
    for collector in extra:
        made.register(collector)
    return made


def exposition(reg: CollectorRegistry) -> Callable[[], bytes]:
    return lambda: generate_latest(reg)


class FlagsCollector(Collector):
    """A `Flags` reader's view of its store: failed checks and how stale its states are.

    Per process, unlike the series above: each process reads the store itself.
    A scrape starts the reader's poller if no read did yet, so an idle process
    still reports whether it can reach the store.
    """

    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def collect(self) -> Iterator[Metric]:
        self.flags.watch()
        errors = CounterMetricFamily(
            "rollout_bot_flags_store_errors",
            "Flag store reads (version checks, snapshots) that failed in this process",
        )
        errors.add_metric([], self.flags.store_errors_total)
        yield errors
        age = GaugeMetricFamily(
            "rollout_bot_flags_state_age_seconds",
            "Seconds since the flag store last confirmed the states this process serves",
        )
        age.add_metric([], self.flags.state_age_seconds)
        yield age
        defaults = GaugeMetricFamily(
            "rollout_bot_flags_serving_defaults",
            "1 while the flag store never answered and definitions' defaults are served",
        )
        defaults.add_metric([], int(self.flags.serving_defaults))
        yield defaults
