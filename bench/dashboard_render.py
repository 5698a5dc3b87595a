"""How long the flag page takes to render for a long rollout, against its reads alone.

Run as ``.venv/bin/python bench/dashboard_render.py``; it takes a few seconds.

A SQLite database holds one flag (the tracking flag) with 500 audit rows spread
over 60 days across the four environments, and the tracker's per-hour counts for
every hour of those days (1,440 hours). Two figures, each the median of
``ROUNDS`` runs:

* **page**: ``GET /flags/NAME`` through the Flask app (the test client: no
  socket), with the dashboard token: routing, every read, the view models, the
  chart geometry and the Jinja templates, 500 timeline rows and 500 chart
  points included.
* **queries** (the anchor): the same reads the route makes, alone
  (``webhook.dashboard.reads``: the history, the state snapshot, the rollout
  issue, the comment links, the events per hour). The page cannot be faster
  than this.

Targets: page under 300 ms, and page / queries within 3. The script reports
them and never fails on timing; it exits non-zero only when a sanity check
fails (the page must show all 500 changes). The last line printed is one JSON
object with every figure.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.sql_store import SqlStore
from flags.state import FlagState
from flags.store import AuditRecord
from rollout_bot import database
from tracking import FLAG
from tracking.sent_counts import add as add_sent
from webhook.app import create_app
from webhook.dashboard import reads

ROWS = 500
DAYS = 60
ROUNDS = 15
TOKEN = "bench"
TARGET_MS = 300.0
TARGET_RATIO = 3.0
ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PAYLOAD = '{"se_la": "group_stages", "se_pr": "create"}'


def fill(url: str) -> None:
    engine = make_engine(url)
    store = SqlStore(engine)
    step = dt.timedelta(days=DAYS) / ROWS
    with store.transaction() as tx:
        for i in range(ROWS):
            percent = (i * 7) % 101
            tx.record(
                AuditRecord(
                    environment=ENVIRONMENTS[i % len(ENVIRONMENTS)],
                    flag=FLAG,
                    action="set",
                    gate="percentage_of_actors",
                    before=(percent + 94) % 101,
                    after=percent,
                    who=f"user{i % 9}",
                    source="gitlab-org/gitlab#1",
                    command=f"feature set {FLAG} {percent} --actors",
                    at=START + step * i,
                )
            )
        for env in ENVIRONMENTS:
            tx.put(env, FLAG, FlagState(percentage_of_actors=50))
    with engine.begin() as conn:
        for hour in range(DAYS * 24):
            add_sent(conn, [PAYLOAD] * (1 + hour % 50), START + dt.timedelta(hours=hour))
    engine.dispose()


def median_ms(action: Callable[[], object]) -> float:
    action()  # warm: templates compiled, connections pooled
    times = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        database.upgrade(url)
        fill(url)
        engine = make_engine(url)
        try:
            app = create_app(engine, registry=load(configured_roots()), dashboard_token=TOKEN)
            client = app.test_client()
            headers = {"Authorization": f"Bearer {TOKEN}"}
            page = client.get(f"/flags/{FLAG}", headers=headers)
            rows = page.text.count("<tr data-audit-id=")
            if page.status_code != 200 or rows != ROWS:
                print(f"sanity: status {page.status_code}, {rows} timeline rows", file=sys.stderr)
                return 1

            def queries() -> None:
                records = reads.history(engine, FLAG)
                reads.snapshot(engine)
                reads.issue_urls(engine, FLAG)
                reads.note_links(engine, {r.delivery for r in records if r.delivery})
                since = min(r.at for r in records) - dt.timedelta(days=1)
                reads.events_per_hour(engine, since)

            page_ms = median_ms(lambda: client.get(f"/flags/{FLAG}", headers=headers))
            queries_ms = median_ms(queries)
        finally:
            engine.dispose()
    ratio = page_ms / queries_ms
    print(f"flag page with {ROWS} audit rows and {DAYS * 24} hours of counts (SQLite)")
    print(f"page    {page_ms:8.1f} ms  (target < {TARGET_MS:.0f} ms)")
    print(f"queries {queries_ms:8.1f} ms  (anchor: the reads alone)")
    print(f"ratio   {ratio:8.2f}     (target <= {TARGET_RATIO:.0f})")
    figures = {
        "audit_rows": ROWS,
        "hours": DAYS * 24,
        "page_ms": round(page_ms, 2),
        "queries_ms": round(queries_ms, 2),
        "ratio": round(ratio, 2),
        "target_ms": TARGET_MS,
        "target_ratio": TARGET_RATIO,
        "page_under_target": page_ms < TARGET_MS,
        "ratio_within_target": ratio <= TARGET_RATIO,
        "page_bytes": len(page.data),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
