"""Fault run: 2,000 ticks over 20 rollout issues, processed by two `rollout-bot worker`
processes while one is killed with SIGKILL every few seconds, the fake GitLab answers
500 and 429 bursts and is down (502) for 30 s, and PostgreSQL is restarted once.

PostgreSQL is a cluster of the bench's own (`faultbench`, port 5439, created if missing,
stopped at the end): the server on 5432 is shared and is never restarted.

Each issue rolls out its own flag; its command step is ticked and unticked in turn,
ending ticked. Counted: per delivery (keyed as the receiver keys it) the bot's comments
carrying its marker at the fake (1 expected: 0 is lost, more duplicated), and per flag
and environment of the step the audit rows (1 expected: the flag goes on once). The last
line is one JSON object. Run as ``.venv/bin/python bench/fault_run.py`` (about five minutes).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bot_load import ACK_STEP, COMMAND_STEP, fleet, postgres_database, wait_drained

from flags.database import make_engine
from flags.schema import flag_audit
from webhook.verification import delivery_key

DELIVERIES = 2000
ISSUES = 20
CLUSTER = ("15", "faultbench")
PORT = 5439
ADMIN_URL = f"postgresql+psycopg://postgres@127.0.0.1:{PORT}/postgres"
KILL_EVERY = 5.0
OUTAGE_SECONDS = 30
STEP_ENVIRONMENTS = ("dev", "staging", "staging-ref")  # what COMMAND_STEP enables
MARKER = "<!-- rollout-bot:delivery={key} -->"


def pg(*action: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, *action], check=True)


def ensure_cluster() -> None:
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    if not any(line.split()[:2] == list(CLUSTER) for line in listed.splitlines()):
        subprocess.run(
            ["pg_createcluster", *CLUSTER, "--port", str(PORT), "--", "--auth=trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if (
        "online"
        not in subprocess.run(
            ["pg_lsclusters", "-h", *CLUSTER], capture_output=True, text=True
        ).stdout
    ):
        pg("start")


def run(directory: Path) -> dict[str, Any]:
    env = {
        "ROLLOUT_BOT_LEASE_SECONDS": "5",
        "ROLLOUT_BOT_RETRY_BASE_SECONDS": "0.5",
        "ROLLOUT_BOT_MAX_ATTEMPTS": "30",
    }
    events: list[str] = []
    flags = [f"fault_run_flag_{n}" for n in range(ISSUES)]
    with (
        postgres_database(ADMIN_URL) as url,
        fleet(url, directory, ISSUES, flags, **env) as bots,
    ):
        engine = make_engine(url)
        bots.serve()
        # Per issue: one acknowledgement tick, then its command step ticked and unticked
        # in turn, ending ticked, so the command must run (once) for every flag.
        bots.tick(ISSUES, ACK_STEP)
        bots.tick(DELIVERIES - ISSUES, COMMAND_STEP)
        ticks = [d for d in bots.fake.deliveries if d.status_code == 202]
        workers = bots.workers(2)
        start = time.monotonic()
        outage_at, outage_over, restarted = 12.0, 12.0 + OUTAGE_SECONDS, False
        next_kill, bursts = KILL_EVERY, [(3.0, 500), (7.0, 429)]
        while True:
            now = time.monotonic() - start
            if bursts and now >= bursts[0][0]:
                _, status = bursts.pop(0)
                bots.fake.fail_next(40, status, retry_after=1 if status == 429 else None)
                events.append(f"{now:.0f}s: 40 x {status}")
            if outage_at and now >= outage_at:
                bots.fake.fail_next(10**7, 502)
                events.append(f"{now:.0f}s: GitLab down")
                outage_at = 0.0
            if outage_over and now >= outage_over:
                bots.fake.faults.clear()
                events.append(f"{now:.0f}s: GitLab up")
                outage_over = 0.0
            if not restarted and now >= 20.0:
                pg("restart")
                events.append(f"{now:.0f}s: PostgreSQL restarted")
                restarted = True
            if now >= next_kill:
                victim = random.choice(workers)
                bots.stop(victim, signal.SIGKILL)
                bots.processes.remove(victim)
                workers[workers.index(victim)] = bots.start("worker", name="worker")
                events.append(f"{now:.0f}s: SIGKILL worker {victim.pid}")
                next_kill += KILL_EVERY
            if now > 60 and restarted and not outage_over:
                try:
                    wait_drained(engine, 1.0)
                    break
                except Exception:
                    pass
            if now > 900:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - start
        time.sleep(2)
        notes = [
            note.body
            for project, iid in bots.issues
            for note in bots.fake.issue(project, iid).notes
            if note.author_id == bots.bot.id
        ]
        with engine.connect() as conn:
            audit = Counter(
                (row.feature, row.environment)
                for row in conn.execute(sa.select(flag_audit.c.feature, flag_audit.c.environment))
            )
        engine.dispose()
    comments: Counter[str] = Counter()
    keys = [delivery_key(d.headers, d.body) for d in ticks]  # as the receiver keys them
    joined = "\n".join(notes)
    for key in keys:
        comments[key] = joined.count(MARKER.format(key=key))
    # Every flag goes from off to on in each environment of the step, exactly once.
    changes = [audit[(flag, env)] for flag in flags for env in STEP_ENVIRONMENTS]
    lost_comments = sum(1 for key in keys if comments[key] == 0)
    duplicated_comments = sum(1 for key in keys if comments[key] > 1)
    lost_changes = sum(1 for n in changes if n == 0)
    duplicated_changes = sum(1 for n in changes if n > 1)
    return {
        "bench": "fault_run",
        "deliveries": DELIVERIES,
        "acknowledged": len(ticks),
        "delivered": sum(1 for key in keys if comments[key] >= 1),
        "duplicated": duplicated_comments + duplicated_changes,
        "lost": lost_comments + lost_changes,
        "duplicated_comments": duplicated_comments,
        "lost_comments": lost_comments,
        "flag_changes": sum(audit.values()),
        "flag_changes_expected": len(changes),
        "duplicated_changes": duplicated_changes,
        "lost_changes": lost_changes,
        "seconds": round(seconds, 1),
        "events": events,
    }


def main() -> int:
    ensure_cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="fault-run-") as tmp:
            figures = run(Path(tmp))
    finally:
        pg("stop")
    for event in figures["events"]:
        print(f"  {event}")
    print(
        f"delivered {figures['delivered']} of {figures['acknowledged']} acknowledged, "
        f"duplicated {figures['duplicated']}, lost {figures['lost']} (goal 0 and 0)"
    )
    print(json.dumps(figures))
    return 0 if figures["duplicated"] == figures["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
