"""The processing rounds of `webhook_ack.py`: acknowledgements while workers drain, and
how many deliveries worker processes get through per second.

Per database: `rollout-bot serve --no-worker` (2 gunicorn workers) with the fake GitLab's
hook pointing at it and 20 rollout issues; wrk measures the idle acknowledgement; then
500 ticks are delivered and acknowledged, two `rollout-bot worker` processes start, and
wrk measures again while they drain (from their tenth tick on, so process start-up
is not measured). Throughput (PostgreSQL): 500 ticks queued, then
1 or 4 worker processes (4 threads each) started, timed until the inbox is empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bot_load import Fleet, fleet, postgres_database, wait_drained

from flags.database import make_engine
from gitlab_ops.schema import rollout_issues
from webhook import inbox

DELIVERIES = 500
ISSUES = 20
BUSY_WORKERS = 2
THROUGHPUT_WORKERS = (1, 4)
DRAIN_TIMEOUT = 600.0
WARM_TICKS = 10


@dataclass
class Target:
    url: str


def register(engine: sa.Engine, sample: dict[str, Any]) -> None:
    """wrk's deliveries are about the sample issue: make it a rollout issue, so they are
    stored like a tick (workers then fail them fast: the fake has no such project)."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(rollout_issues).values(
                project_id=sample["project"]["id"],
                issue_iid=sample["object_attributes"]["iid"],
                flag="bench",
                web_url=None,
                created_at=sa.func.now(),
            )
        )


def ack_under_processing(
    url: str,
    directory: Path,
    measure: Callable[[Target, int], Any],
    seconds: int,
    sample: dict[str, Any],
) -> dict[str, Any]:
    """The idle and the busy wrk loads on one database, and the ticks done meanwhile."""
    engine = make_engine(url)
    try:
        with fleet(url, directory, ISSUES) as bots:
            register(engine, sample)
            target = Target(bots.serve())
            measure(target, 1)
            idle = measure(target, seconds)
            bots.tick(DELIVERIES)
            ticks = _tick_ids(engine)
            bots.workers(BUSY_WORKERS)
            # Measure once the workers are up and processing, not while they import.
            _wait_for(engine, ticks, WARM_TICKS)
            before = _done(engine, ticks)
            busy = measure(target, seconds)
            done = _done(engine, ticks) - before
            bots.stop_all()
    finally:
        engine.dispose()
    return {"idle": idle, "busy": busy, "ticks_done_during": done}


def _tick_ids(engine: sa.Engine) -> set[int]:
    return {d.id for d in inbox.listing(engine, [inbox.PENDING], limit=10 * DELIVERIES)}


def _wait_for(engine: sa.Engine, ids: set[int], count: int) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while _done(engine, ids) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def _done(engine: sa.Engine, ids: set[int]) -> int:
    rows = inbox.listing(engine, [inbox.DONE, inbox.FAILED], limit=100_000)
    return sum(1 for d in rows if d.id in ids)


def throughput(directory: Path, workers: int) -> float:
    """Deliveries processed per second by `workers` processes, on a fresh PostgreSQL db."""
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            with fleet(url, directory, ISSUES) as bots:
                bots.serve()
                bots.tick(DELIVERIES)
                queued = sum(inbox.counts(engine).values())
                start = time.monotonic()
                bots.workers(workers)
                _wait(bots, engine)
                seconds = time.monotonic() - start
                total = sum(inbox.counts(engine).values())
        finally:
            engine.dispose()
    # The bot's own edits come back as deliveries too (ignored fast): count what ran.
    print(
        f"  {workers} worker process(es): {total} deliveries ({queued} queued) in {seconds:.1f} s"
    )
    return total / seconds


def _wait(bots: Fleet, engine: sa.Engine) -> None:
    wait_drained(engine, DRAIN_TIMEOUT)
    time.sleep(1.0)  # the last comments' own hooks
    wait_drained(engine, DRAIN_TIMEOUT)
