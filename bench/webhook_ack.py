"""How fast `POST /webhook` acknowledges a delivery: ours against an anchor and a ceiling.

Run as ``.venv/bin/python bench/webhook_ack.py`` from anywhere; it takes about two
and a half minutes on a 2-core machine.

Three contenders, each served by gunicorn with 2 worker processes on 127.0.0.1 and an
access log on stdout (``preload_app``), each log going to a file. The ceiling and the
anchor run gunicorn's default sync worker, as a dozen-line receiver would; ours runs
as `rollout-bot serve` runs it (gunicorn's ``asgi`` worker, the app behind a2wsgi on its
threads per process, whole requests only, short keep-alive):

* **ceiling**: a bare Flask route that answers 200 without reading the body
  (``bench/webhook_ack/ceiling_app.py``). No receiver under this stack is faster.
* **anchor**: a minimal durable receiver of a dozen lines
  (``bench/webhook_ack/anchor_app.py``): parse the JSON, ``hmac.compare_digest``
  the token, insert one row (key, body) into SQLite (WAL, busy timeout), commit,
  answer 202.
* **ours**: ``rollout-bot serve --workers 2 --no-worker`` on SQLite, with
  ``ROLLOUT_BOT_WEBHOOK_SECRET`` set: the real receiver (size check, token,
  JSON, classify including the rollout-issue lookup, inbox insert, 202).

The load is ``wrk`` (``bench/webhook_ack/post.lua``): 2 threads, 16 connections,
every request an 8 KB Issue Hook (the project's task-ticked fixture,
``tests/fixtures/gitlab/webhooks/issue_hook_task_ticked.json``, its task list grown to
size, ``changes.description`` differing in one box) with a unique
``Idempotency-Key``, so every delivery is new and must be stored. gunicorn's sync
worker closes the connection after each answer, so wrk reconnects for every
request to the ceiling and the anchor, and keeps its connections to ours; wrk and
the servers share the 2 cores, the same for every contender.

Rounds alternate ceiling, anchor, ours, ceiling, ... (5 rounds each); every
round starts the server fresh on a fresh copy of its database, warms it for 1 s,
then measures 6 s. A contender's figure is the median over its rounds of the 2xx
answers per second and of the p99 latency. Many short alternating rounds rather
than a few long ones, so that a burst of other work on the machine lands in one
round of one contender and the median drops it.

Correctness, checked after every round (a failure exits 1): the rows stored equal
the 202 answers the server logged, every 202 "queued" answer wrk saw is stored
(stored rows may exceed them only by requests in flight when wrk stopped, timed
out or reset), and nothing answered non-2xx.

Last, tick to comment: the whole bot in this process (``tests.bot_stack``: the
fake GitLab, our app on loopback, the embedded worker), ticking acknowledgement
steps (steps without a command) of a rollout issue one at a time, timed from just
before the tick until the bot's comment is on the issue.

Under processing load (``bench/ack_processing.py``), on SQLite and on PostgreSQL:
``rollout-bot serve --no-worker`` with 20 rollout issues on the fake GitLab; wrk's
idle figure, then 500 ticks delivered and two ``rollout-bot worker`` processes
started, and wrk again while they drain (target p99 under 200 ms on PostgreSQL).
Then deliveries processed per second with 1 and 4 worker processes on PostgreSQL.

wrk must be installed (``apt-get install -y wrk``); the bench says so and exits 1 if
it is missing and cannot be installed.

The last line printed is one JSON object with every figure. No timing is asserted.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flags.database import make_engine

REPO = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "webhook_ack"
LUA_SCRIPT = HELPERS / "post.lua"
BIN = Path(sys.executable).parent
HOOK_SAMPLE = REPO / "tests" / "fixtures" / "gitlab" / "webhooks" / "issue_hook_task_ticked.json"

SECRET = "bench-webhook-secret"
BODY_BYTES = 8 * 1024

CONTENDERS = ("ceiling", "anchor", "ours")
ROUNDS = 5
SECONDS_PER_ROUND = 6
WARMUP_SECONDS = 1
THREADS = 2
CONNECTIONS = 16
WORKERS = 2
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

TICKS = 30
WARMUP_TICKS = 2
POLL_SECONDS = 0.005
COMMENT_TIMEOUT = 30.0
# Steps without a command: ticking or unticking one makes the bot comment and change nothing.
ACK_STEPS = (
    "verify-non-production",
    "verify-specific-entries",
    "change-management",
    "available-after-rollout",
    "documentation-updated",
    "announce-estimated-time",
    "breaking-changes-announced",
    "notify-support",
)

ACCESS_LINE = re.compile(r'"POST /webhook HTTP/1\.1" (\d{3}) ')


class BenchError(Exception):
    """A correctness check failed, or a server did not start."""


@dataclass
class Load:
    """One wrk run: counts, seconds, latency percentiles in milliseconds."""

    requests: int
    ok_2xx: int
    queued_202: int
    non_2xx: int
    socket_errors: dict[str, int]
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.ok_2xx / self.seconds

    @classmethod
    def from_wrk(cls, raw: dict[str, Any]) -> Load:
        return cls(
            requests=int(raw["requests"]),
            ok_2xx=int(raw["ok_2xx"]),
            queued_202=int(raw["queued_202"]),
            non_2xx=int(raw["non_2xx"]),
            socket_errors={
                name: int(raw[f"{name}_errors" if name != "timeouts" else name])
                for name in ("connect", "read", "write", "timeouts")
            },
            seconds=int(raw["duration_us"]) / 1e6,
            p50_ms=float(raw["p50_us"]) / 1e3,
            p90_ms=float(raw["p90_us"]) / 1e3,
            p99_ms=float(raw["p99_us"]) / 1e3,
            max_ms=float(raw["max_us"]) / 1e3,
        )


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    database: Path | None  # None for the ceiling, which stores nothing

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Round:
    contender: str
    number: int
    load: Load
    warmup: Load
    stored: int | None
    logged_status: dict[int, int]


@dataclass
class Running:
    """Every server process started, so the end can stop whatever is still up."""

    servers: list[Server] = field(default_factory=list)

    def stop_all(self) -> None:
        while self.servers:
            stop_server(self.servers.pop())


# -- the request body ---------------------------------------------------------------


def task_list(lines: int, ticked: int | None, notes: int) -> str:
    rows = ["## Rollout steps", ""]
    for n in range(lines):
        box = "x" if n == ticked else " "
        rows.append(
            f"- [{box}] Step {n + 1}: verify the feature works as expected on the "
            f"environment before moving on. <!-- step:bench-step-{n + 1} -->"
        )
    text = "\n".join(rows)
    if notes:
        filler = "Notes: watch the error budget and the dashboards after each step. " * 20
        text += "\n\n" + filler[:notes]
    return text


def hook_sample() -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(HOOK_SAMPLE.read_text(encoding="utf-8"))
    return sample


def issue_hook_payload(lines: int, notes: int) -> bytes:
    sample = hook_sample()
    attributes = sample["object_attributes"]
    previous, current = task_list(lines, None, notes), task_list(lines, 0, notes)
    attributes["description"] = current
    sample["changes"]["description"] = {"previous": previous, "current": current}
    return json.dumps(sample, separators=(",", ":")).encode()


def issue_hook_body(target: int = BODY_BYTES) -> bytes:
    """The project's task-ticked Issue Hook, its description grown to about target.

    Ticking the first box is the change; task-list lines, then a notes paragraph
    (the description appears three times) bring the compact JSON to about target.
    """
    lines = 1
    while len(issue_hook_payload(lines + 1, 0)) <= target:
        lines += 1
    notes = max(0, (target - len(issue_hook_payload(lines, 0))) // 3)
    while notes and len(issue_hook_payload(lines, notes)) > target:
        notes -= 1
    return issue_hook_payload(lines, notes)


# -- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_BOT_", "GUNICORN"))}


def prepare_ours(directory: Path) -> Path:
    """A migrated database whose rollout_issues holds the benched issue."""
    import sqlalchemy as sa

    from gitlab_ops.schema import rollout_issues
    from rollout_bot import database

    path = directory / "ours-template.sqlite3"
    url = f"sqlite:///{path}"
    sample = hook_sample()  # the deliveries are about this issue
    database.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(rollout_issues).values(
                    project_id=sample["project"]["id"],
                    issue_iid=sample["object_attributes"]["iid"],
                    flag="product_intelligence_database_event_tracking",
                    web_url=sample["object_attributes"]["url"],
                    created_at=sa.func.now(),
                )
            )
    finally:
        engine.dispose()
    return path


def prepare_anchor(directory: Path) -> Path:
    path = directory / "anchor-template.sqlite3"
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE deliveries (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
        conn.commit()
    finally:
        conn.close()
    return path


def fresh_copy(template: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{target}{suffix}")
    return target


def gunicorn_command(module: str, port: int) -> list[str]:
    # The options `rollout-bot serve` gives gunicorn (rollout_bot/server.py), so the
    # contenders differ only in their app.
    return [
        str(BIN / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--preload",
        "--chdir",
        str(HELPERS),
        f"{module}:app",
    ]


def start_server(
    name: str, templates: dict[str, Path], directory: Path, running: Running
) -> Server:
    port = free_port()
    env = clean_env()
    database: Path | None = None
    if name == "ours":
        database = fresh_copy(templates["ours"], directory / "ours.sqlite3")
        env.update(
            ROLLOUT_BOT_DATABASE_URL=f"sqlite:///{database}",
            ROLLOUT_BOT_WEBHOOK_SECRET=SECRET,
            ROLLOUT_BOT_DEFINITIONS="",
        )
        command = [
            str(BIN / "rollout-bot"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--no-worker",
        ]
    elif name == "anchor":
        database = fresh_copy(templates["anchor"], directory / "anchor.sqlite3")
        env.update(WEBHOOK_ACK_DB=str(database), WEBHOOK_ACK_TOKEN=SECRET)
        command = gunicorn_command("anchor_app", port)
    else:
        command = gunicorn_command("ceiling_app", port)
    log_path = directory / f"{name}.log"
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise BenchError(f"cannot start {name}: {exc}") from exc
    server = Server(name, port, process, log_path, database)
    running.servers.append(server)
    wait_ready(server)
    return server


def log_tail(server: Server, lines: int = 15) -> str:
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(server: Server) -> None:
    """Until both workers answer: any HTTP answer to GET /healthz (404 included)."""
    deadline = time.monotonic() + START_TIMEOUT
    answered = 0
    while answered < 2 * WORKERS:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited at start:\n{log_tail(server)}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"{server.name} did not answer in {START_TIMEOUT}s:\n{log_tail(server)}"
            )
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            answered += 1
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()


def stop_server(server: Server) -> None:
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session this script started
            process.wait(timeout=STOP_TIMEOUT)
    try:  # workers left behind by a killed master share its process group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- load ---------------------------------------------------------------------------


def apt_get(*args: str) -> int:
    quiet = subprocess.DEVNULL
    return subprocess.run(["apt-get", *args], stdout=quiet, stderr=quiet, check=False).returncode


def find_wrk() -> str:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: apt-get install -y wrk", flush=True)
        if apt_get("install", "-y", "wrk"):
            apt_get("update")
            apt_get("install", "-y", "wrk")
        found = shutil.which("wrk")
    if found is None:
        raise BenchError("wrk is not installed and could not be installed (apt-get install wrk)")
    return found


def run_wrk(wrk: str, server: Server, seconds: int, body_path: Path) -> Load:
    command = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "-s",
        str(LUA_SCRIPT),
        server.url,
        "--",
        str(body_path),
        SECRET,
        uuid.uuid4().hex[:12],
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("WEBHOOK_ACK "):
            return Load.from_wrk(json.loads(line.removeprefix("WEBHOOK_ACK ")))
    raise BenchError(f"wrk printed no result (exit {done.returncode}):\n{done.stdout}{done.stderr}")


# -- correctness --------------------------------------------------------------------


def logged_statuses(server: Server) -> dict[int, int]:
    counts: dict[int, int] = {}
    with server.log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            match = ACCESS_LINE.search(line)
            if match:
                status = int(match.group(1))
                counts[status] = counts.get(status, 0) + 1
    return counts


def stored_rows(server: Server) -> int | None:
    if server.database is None:
        return None
    table = "inbox_deliveries" if server.name == "ours" else "deliveries"
    conn = sqlite3.connect(server.database)
    try:
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    finally:
        conn.close()
    return int(count)


def check_round(result: Round) -> list[str]:
    """Problems found in one stopped server's round; empty when all is well."""
    problems: list[str] = []
    runs = (result.warmup, result.load)
    non_2xx = sum(run.non_2xx for run in runs)
    if non_2xx:
        problems.append(f"{non_2xx} non-2xx answers")
    if result.stored is None:
        return problems
    logged_202 = result.logged_status.get(202, 0)
    queued = sum(run.queued_202 for run in runs)
    # wrk stops with a request open on each connection, and gives up on timed-out and
    # reset ones: the server may have stored those without wrk seeing the answer.
    in_flight = sum(
        CONNECTIONS + run.socket_errors["timeouts"] + run.socket_errors["read"] for run in runs
    )
    # gunicorn's asgi worker logs no answer it could not send, so the requests wrk left
    # open when it stopped may be stored without a 202 in the access log.
    if not logged_202 <= result.stored <= logged_202 + in_flight:
        problems.append(
            f"{result.stored} rows stored but the server logged {logged_202} x 202 "
            f"(at most {in_flight} more may have been in flight)"
        )
    if not queued <= result.stored <= queued + in_flight:
        problems.append(
            f"{result.stored} rows stored for {queued} 202-queued answers "
            f"(at most {in_flight} more may have been in flight)"
        )
    return problems


# -- tick to comment ----------------------------------------------------------------


@dataclass
class Ticks:
    to_comment_ms: list[float]
    to_ack_ms: list[float]


@contextmanager
def quiet_logging() -> Iterator[None]:
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def tick_to_comment(directory: Path) -> Ticks:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from rollout_bot import database
    from tests.bot_stack import bot_stack

    url = f"sqlite:///{directory / 'ticks.sqlite3'}"
    database.upgrade(url)
    to_comment: list[float] = []
    to_ack: list[float] = []
    with quiet_logging(), bot_stack(url) as stack:
        iid = stack.open_issue()
        n = 0
        while len(to_comment) < TICKS:
            step = ACK_STEPS[(n // 2) % len(ACK_STEPS)]
            checked = n % 2 == 0  # tick, then untick the same step
            n += 1
            before = len(stack.bot_notes(iid))
            start = time.perf_counter()
            stack.tick(stack.alice, iid, step, checked=checked)
            acked = time.perf_counter()
            deadline = acked + COMMENT_TIMEOUT
            while len(stack.bot_notes(iid)) == before:
                if time.perf_counter() > deadline:
                    raise BenchError(f"no comment {COMMENT_TIMEOUT}s after ticking {step}")
                time.sleep(POLL_SECONDS)
            commented = time.perf_counter()
            stack.wait_idle()  # each tick alone, as a person ticks them
            if n > WARMUP_TICKS:
                to_comment.append((commented - start) * 1e3)
                to_ack.append((acked - start) * 1e3)
    return Ticks(to_comment, to_ack)


# -- figures ------------------------------------------------------------------------


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]


def describe(result: Round) -> str:
    load = result.load
    errors = ", ".join(f"{k} {v}" for k, v in load.socket_errors.items() if v) or "none"
    stored = "" if result.stored is None else f"  stored {result.stored}"
    return (
        f"  round {result.number} {result.contender:<8} {load.rps:8.0f} 2xx/s  "
        f"p50 {load.p50_ms:6.1f} ms  p99 {load.p99_ms:6.1f} ms  "
        f"2xx {load.ok_2xx} (202 queued {load.queued_202})  non-2xx {load.non_2xx}  "
        f"socket errors: {errors}{stored}"
    )


def measure_rounds(wrk: str, directory: Path, running: Running) -> tuple[list[Round], int]:
    body = issue_hook_body()
    body_path = directory / "issue_hook.json"
    body_path.write_bytes(body)
    templates = {"ours": prepare_ours(directory), "anchor": prepare_anchor(directory)}
    print(
        f"webhook_ack: {len(body)}-byte Issue Hook, gunicorn {WORKERS} worker processes, "
        f"wrk {THREADS} threads x {CONNECTIONS} connections, {ROUNDS} rounds x "
        f"{SECONDS_PER_ROUND} s (after {WARMUP_SECONDS} s warm-up), {os.cpu_count()} cores",
        flush=True,
    )
    rounds: list[Round] = []
    for number in range(1, ROUNDS + 1):
        for name in CONTENDERS:
            server = start_server(name, templates, directory, running)
            try:
                warmup = run_wrk(wrk, server, WARMUP_SECONDS, body_path)
                load = run_wrk(wrk, server, SECONDS_PER_ROUND, body_path)
            finally:
                running.servers.remove(server)
                stop_server(server)
            result = Round(name, number, load, warmup, stored_rows(server), logged_statuses(server))
            rounds.append(result)
            print(describe(result), flush=True)
            if server.database is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{server.database}{suffix}").unlink(missing_ok=True)
    return rounds, len(body)


def processing_rounds(directory: Path) -> dict[str, Any] | None:
    """Acknowledgements while worker processes drain 500 ticks, and their throughput."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import ack_processing as processing
        from bot_load import postgres_database

        wrk = find_wrk()
        body_path = directory / "issue_hook.json"

        def measure(target: Any, seconds: int) -> Load:
            return run_wrk(wrk, target, seconds, body_path)

        figures: dict[str, Any] = {}
        for kind in ("postgresql", "sqlite"):
            print(f"acknowledgement while workers drain, {kind} ...", flush=True)
            with contextlib.ExitStack() as stack:
                if kind == "sqlite":
                    from rollout_bot import database

                    url = f"sqlite:///{directory / 'processing.sqlite3'}"
                    database.upgrade(url)
                else:
                    url = stack.enter_context(postgres_database())
                got = processing.ack_under_processing(
                    url, directory / kind, measure, SECONDS_PER_ROUND, hook_sample()
                )
            idle, busy = got["idle"], got["busy"]
            print(
                f"  {kind}: idle p99 {idle.p99_ms:.1f} ms ({idle.rps:.0f} 2xx/s), while "
                f"processing p99 {busy.p99_ms:.1f} ms ({busy.rps:.0f} 2xx/s, max "
                f"{busy.max_ms:.0f} ms, non-2xx {busy.non_2xx}); {got['ticks_done_during']} "
                f"of {processing.DELIVERIES} ticks processed meanwhile",
                flush=True,
            )
            figures.update(
                {
                    f"{kind}_idle_p99_ms": round(idle.p99_ms, 2),
                    f"{kind}_idle_rps": round(idle.rps, 1),
                    f"{kind}_processing_p99_ms": round(busy.p99_ms, 2),
                    f"{kind}_processing_max_ms": round(busy.max_ms, 2),
                    f"{kind}_processing_rps": round(busy.rps, 1),
                    f"{kind}_processing_errors": busy.non_2xx + sum(busy.socket_errors.values()),
                    f"{kind}_ticks_processed_during": got["ticks_done_during"],
                }
            )
        print("deliveries processed per second, PostgreSQL, 20 issues ...", flush=True)
        for workers in processing.THROUGHPUT_WORKERS:
            rate = processing.throughput(directory / f"throughput-{workers}", workers)
            figures[f"postgresql_processed_per_s_{workers}_workers"] = round(rate, 1)
        figures["postgresql_processing_p99_under_200ms"] = (
            figures["postgresql_processing_p99_ms"] < 200
        )
        return figures
    except Exception:
        traceback.print_exc()
        return None


def main() -> int:
    running = Running()
    with tempfile.TemporaryDirectory(prefix="webhook-ack-") as tmp:
        directory = Path(tmp)
        try:
            rounds, body_bytes = measure_rounds(find_wrk(), directory, running)
        except BenchError as exc:
            print(f"webhook_ack: {exc}", file=sys.stderr)
            return 1
        finally:
            running.stop_all()
        processing = processing_rounds(directory)
        print("tick to comment (fake GitLab -> bot in this process -> comment) ...", flush=True)
        ticks: Ticks | None = None
        try:
            ticks = tick_to_comment(directory)
        except Exception:  # the bot stack lives in tests/: report, keep the figures above
            traceback.print_exc()

    problems = [f"{r.contender} round {r.number}: {p}" for r in rounds for p in check_round(r)]
    rps = {n: statistics.median(r.load.rps for r in rounds if r.contender == n) for n in CONTENDERS}
    tail = {
        n: statistics.median(r.load.p99_ms for r in rounds if r.contender == n) for n in CONTENDERS
    }
    errors = {
        n: sum(
            r.load.non_2xx + sum(r.load.socket_errors.values()) for r in rounds if r.contender == n
        )
        for n in CONTENDERS
    }
    figures: dict[str, Any] = {"bench": "webhook_ack"}
    for n in CONTENDERS:
        figures[f"{n}_rps"] = round(rps[n], 1)
    for n in CONTENDERS:
        figures[f"{n}_p99_ms"] = round(tail[n], 2)
    for n in CONTENDERS:
        figures[f"{n}_errors"] = errors[n]
    figures.update(
        ours_vs_anchor=round(rps["ours"] / rps["anchor"], 3),
        ours_vs_ceiling=round(rps["ours"] / rps["ceiling"], 3),
        anchor_vs_ceiling=round(rps["anchor"] / rps["ceiling"], 3),
        stored_equals_acked=not problems,
        tick_to_comment_median_ms=None,
        tick_to_comment_p99_ms=None,
        tick_acknowledged_median_ms=None,
        ticks=0,
        rounds=ROUNDS,
        seconds_per_round=SECONDS_PER_ROUND,
        connections=CONNECTIONS,
        threads=THREADS,
        body_bytes=body_bytes,
    )
    print("medians over rounds:")
    for n in CONTENDERS:
        print(f"  {n:<8} {rps[n]:8.0f} 2xx/s  p99 {tail[n]:6.1f} ms  errors {errors[n]}")
    print(
        f"ours / anchor {figures['ours_vs_anchor']:.2f} (target >= 0.8), "
        f"ours p99 {tail['ours']:.1f} ms (target < 50), "
        f"anchor / ceiling {figures['anchor_vs_ceiling']:.2f}, "
        f"ours / ceiling {figures['ours_vs_ceiling']:.2f}"
    )
    if ticks is None:
        problems.append("tick to comment could not run (see the traceback above)")
    else:
        figures.update(
            tick_to_comment_median_ms=round(statistics.median(ticks.to_comment_ms), 1),
            tick_to_comment_p99_ms=round(p99(ticks.to_comment_ms), 1),
            tick_acknowledged_median_ms=round(statistics.median(ticks.to_ack_ms), 1),
            ticks=len(ticks.to_comment_ms),
        )
        print(
            f"tick to comment over {len(ticks.to_comment_ms)} ticks: median "
            f"{figures['tick_to_comment_median_ms']} ms, "
            f"p99 {figures['tick_to_comment_p99_ms']} ms (the webhook was acknowledged "
            f"after a median {figures['tick_acknowledged_median_ms']} ms)"
        )
    if processing is None:
        problems.append("the processing rounds could not run (see the traceback above)")
    else:
        figures.update(processing)
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    print(json.dumps(figures))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
