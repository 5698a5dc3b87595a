"""Bounded tables: what the bot forgets once it is old, by hand or periodically in a worker.

Purged once finished and older than the retention (`ROLLOUT_BOT_RETENTION_DAYS`):
- inbox deliveries that are done, or failed and not retried; pending and processing
  ones never;
- issue updates that are done (posted); a failed one is kept, it holds a comment the
  issue never got and `rollout-bot` has no other copy of;
- remembered command runs (`command_runs`), but only those older than every delivery
  that may still run, failed ones included: a retried delivery replays its steps
  from them instead of running them twice.

Kept for good: the audit log (`flag_audit`, which carries the delivery key, the command
and the GitLab user itself, so it points at no purged row), the rollout issues, their
renderings and step shapes, and the flag state. The comments themselves live on GitLab.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flags.sql_store import SqlStore
from gitlab_ops import issue_updates
from gitlab_ops.update_schema import issue_updates as updates
from webhook import inbox
from webhook.schema import inbox_deliveries as deliveries

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
# Rows per DELETE: each batch is its own short transaction, so a purge never holds
# the inbox's locks long enough to delay an acknowledgement or a claim.
BATCH = 1000
# Batches per table per periodic pass: 20,000 rows an hour outruns any team's traffic.
MAX_BATCHES = 20
INTERVAL_SECONDS = 3600.0
# Command runs and deliveries are stamped by different processes' clocks.
CLOCK_MARGIN = dt.timedelta(hours=1)

PURGED = (
    "purged {deliveries} deliveries, {updates} issue updates and {runs} command runs "
    "finished more than {days:g} days ago"
)


@dataclass(frozen=True)
class Purged:
    deliveries: int = 0
    updates: int = 0
    runs: int = 0

    @property
    def total(self) -> int:
        return self.deliveries + self.updates + self.runs

    def describe(self, days: float) -> str:
        return PURGED.format(days=days, **dataclasses.asdict(self))


def purge_updates(engine: Engine, before: dt.datetime, *, batch: int) -> int:
    """Delete up to `batch` issue updates posted before `before`; how many went."""
    finished = (updates.c.status == issue_updates.DONE, updates.c.finished_at < before)
    doomed = sa.select(updates.c.id).where(*finished).order_by(updates.c.id).limit(batch)
    statement = sa.delete(updates).where(updates.c.id.in_(doomed.scalar_subquery()), *finished)
    with engine.begin() as conn:
        result = conn.execute(statement)
    return result.rowcount


def _drain(step: Callable[[], int], batch: int, max_batches: int | None) -> int:
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        gone = step()
        total, batches = total + gone, batches + 1
        if gone < batch:
            break
    return total


def purge(
    engine: Engine,
    older_than: dt.timedelta,
    *,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    max_batches: int | None = None,
) -> Purged:
    """Purge what finished more than `older_than` ago (exactly that old is kept)."""
    before = (now or inbox.utcnow()) - older_than
    deliveries = _drain(lambda: purge_deliveries(engine, before, batch=batch), batch, max_batches)
    posted = _drain(lambda: purge_updates(engine, before, batch=batch), batch, max_batches)
    # Read after the deliveries went: a failed delivery purged no longer holds its runs.
    oldest = oldest_unfinished(engine)
    runs_before = before if oldest is None else min(before, oldest - CLOCK_MARGIN)
    store = SqlStore(engine)
    runs = _drain(lambda: store.purge_runs(runs_before, batch=batch), batch, max_batches)
    return Purged(deliveries, posted, runs)


@dataclass
class RetentionJob:
    """A worker job that purges at most once per `interval` in this process.

    It never counts as work done, so the worker's loop keeps its pace; the first
    pass runs when the worker starts.
    """

    engine: Engine
    days: float = DEFAULT_RETENTION_DAYS
    interval: float = INTERVAL_SECONDS
    batch: int = BATCH
    max_batches: int = MAX_BATCHES
    clock: Callable[[], float] = time.monotonic
    last: Purged | None = None
    _due: float = field(default=float("-inf"), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __call__(self, thread: str | None = None) -> bool:
        if self.clock() < self._due or not self._lock.acquire(blocking=False):
            return False
        try:
            if self.clock() < self._due:
                return False  # another thread just ran it
            # Due again in an interval even if this pass raises: no retry storm.
            self._due = self.clock() + self.interval
            self.last = purge(
                self.engine,
                dt.timedelta(days=self.days),
                batch=self.batch,
                max_batches=self.max_batches,
            )
        finally:
            self._lock.release()
        log.info("retention: %s", self.last.describe(self.days))
        return False


# -- the inbox's side ------------------------------------------------------------


def purge_deliveries(engine: Engine, before: dt.datetime, *, batch: int) -> int:
    """Delete up to `batch` finished deliveries (done, or failed and never retried) that
    finished before `before`; how many went.

    Pending and processing deliveries are never touched. Audit rows keep the delivery
    key itself (`flag_audit.delivery`), so nothing points at a purged row.
    """
    finished = (
        deliveries.c.status.in_((inbox.DONE, inbox.FAILED)),
        deliveries.c.finished_at < before,
    )
    doomed = sa.select(deliveries.c.id).where(*finished).order_by(deliveries.c.id).limit(batch)
    # The conditions again on the DELETE: PostgreSQL rechecks them on a row that an
    # `inbox retry` changed meanwhile, so a delivery queued again is kept.
    statement = sa.delete(deliveries).where(
        deliveries.c.id.in_(doomed.scalar_subquery()), *finished
    )
    with engine.begin() as conn:
        result = conn.execute(statement)
    return result.rowcount


def oldest_unfinished(engine: Engine) -> dt.datetime | None:
    """When the oldest delivery that may still run (again) arrived: pending, processing,
    or failed (`inbox retry`); its remembered step outcomes are all younger than this."""
    with engine.connect() as conn:
        value = conn.scalar(
            sa.select(sa.func.min(deliveries.c.received_at)).where(
                deliveries.c.status != inbox.DONE
            )
        )
    return None if value is None else inbox.aware(value)
