"""The real `rollout-bot serve`: gunicorn acknowledges, delivery workers run as processes.

Everything here goes through the command users run, over real sockets: idle clients,
a chunked body far over the limit, the private pages, and a delivery acknowledged
while the worker processes are busy with a slow GitLab.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from flags.database import make_engine
from rollout_bot.cli import main
from templates.steps import set_checked
from tests.bot_stack import FLAG
from tests.fake_gitlab import FakeGitLab
from tests.fake_gitlab.models import MAINTAINER, Project, User
from tests.test_serve import free_port
from webhook import inbox
from webhook.page_auth import MSG_TOKEN_REQUIRED
from webhook.verification import MAX_BODY_BYTES, MSG_BODY_TOO_LARGE, MSG_TOKEN_INVALID

SECRET = "s3cret-token"
DASHBOARD_TOKEN = "dashboard-t0ken"
SANITY_SECONDS = 5.0  # a generous bound: the assertion is that it is answered at all
MIB = 1024 * 1024


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLOUT_BOT_")}
    env.update({f"ROLLOUT_BOT_{name}": value for name, value in settings.items()})
    return env


@contextmanager
def serving(cwd: Path, env: dict[str, str], *args: str) -> Iterator[tuple[str, int]]:
    """`rollout-bot serve` on a free port until SIGTERM; yields (base URL, its pid)."""
    port = free_port()
    argv = [sys.executable, "-m", "rollout_bot", "serve", "--port", str(port), *args]
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, "serve exited early"
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
    assert process.returncode == 0


def children_of(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(child) for task in tasks for child in (task / "children").read_text().split()]


def descendants(pid: int) -> list[int]:
    return [found for child in children_of(pid) for found in (child, *descendants(child))]


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


# --- the web side alone ----------------------------------------------------------------


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One gunicorn process (so a starved one would show), no delivery workers."""
    cwd = tmp_path_factory.mktemp("web")
    env = clean_env(WEBHOOK_SECRET=SECRET, DASHBOARD_TOKEN=DASHBOARD_TOKEN, DEFINITIONS="")
    with serving(cwd, env, "--no-worker", "--workers", "1") as served:
        yield served


def ignored_delivery(base: str) -> requests.Response:
    return requests.post(
        f"{base}/webhook",
        data=b'{"object_kind": "push"}',
        headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"},
        timeout=SANITY_SECONDS,
    )


# Far more than the threads serving requests (16 a process at most): under gunicorn's
# gthread worker, 8 half-sent requests left `serve` answering nothing at all.
STALLED_CLIENTS = 40


def test_idle_and_half_sent_requests_do_not_delay_an_acknowledgement(
    web: tuple[str, int],
) -> None:
    base, _ = web
    port = int(base.rsplit(":", 1)[1])
    body = b'{"object_kind": "push"}'
    stalls = (
        b"",  # connected, and never sending a byte
        b"POST /webhook HTTP/1.1\r\nHost: x\r\n",  # headers begun, never ended
        # headers whole, the body begun and never finished
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: " + SECRET.encode()
        + b"\r\nX-Gitlab-Event: Push Hook\r\nContent-Length: 100\r\n\r\n" + body[:5],
    )  # fmt: skip
    with ExitStack() as stack:
        for n in range(STALLED_CLIENTS):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            client.sendall(stalls[n % len(stalls)])
        time.sleep(0.3)  # let the server accept them first
        start = time.monotonic()
        response = ignored_delivery(base)
        assert response.status_code == 200
        assert response.json()["status"] == "ignored"
        assert requests.get(f"{base}/healthz", timeout=SANITY_SECONDS).status_code == 200
        assert time.monotonic() - start < SANITY_SECONDS


def _chunks(total: int, size: int = MIB) -> Iterator[bytes]:
    yield b'{"padding": "'
    for _ in range(total // size):
        yield b"x" * size


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [
        (SECRET, 413, MSG_BODY_TOO_LARGE.format(limit=MAX_BODY_BYTES)),
        # Without the token nothing of the body is read: refused by its headers.
        ("wrong", 401, MSG_TOKEN_INVALID),
    ],
)
def test_a_chunked_body_over_the_limit_is_refused_while_reading(
    web: tuple[str, int], token: str, status: int, reason: str
) -> None:
    base, pid = web
    assert ignored_delivery(base).status_code == 200  # warm: every import done
    before = rss_bytes([pid, *descendants(pid)])
    try:
        response = requests.post(
            f"{base}/webhook",
            data=_chunks(200 * MIB),  # a generator: Transfer-Encoding: chunked
            headers={"X-Gitlab-Token": token, "X-Gitlab-Event": "Issue Hook"},
            timeout=60,
        )
    except requests.ConnectionError:
        pytest.fail(f"the server dropped the connection instead of answering {status}")
    after = rss_bytes([pid, *descendants(pid)])
    assert response.status_code == status
    assert response.json()["reason"] == reason
    # Reading it whole grew a worker by ~195 MiB; bounded reading keeps it near flat.
    assert after - before < 40 * MIB, f"RSS grew by {(after - before) / MIB:.0f} MiB"
    assert ignored_delivery(base).status_code == 200  # and it still serves


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("wrong", 401), (SECRET, 200)])
def test_a_delivery_is_answered_by_its_token_whatever_its_content_type(
    web: tuple[str, int], token: str | None, status: int
) -> None:
    base, _ = web
    headers = {"X-Gitlab-Event": "Push Hook", "Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    response = requests.post(
        f"{base}/webhook", data=b'{"object_kind": "push"}', headers=headers, timeout=10
    )
    assert response.status_code == status
    assert response.json()["status"] == ("ignored" if status == 200 else "rejected")


@pytest.mark.parametrize("path", ["/", "/metrics", "/health", "/api/flags", "/api/health"])
def test_private_pages_need_the_dashboard_token(web: tuple[str, int], path: str) -> None:
    base, _ = web
    refused = requests.get(f"{base}{path}", timeout=SANITY_SECONDS)
    assert refused.status_code == 401
    assert refused.text == MSG_TOKEN_REQUIRED
    assert "Basic" in refused.headers["WWW-Authenticate"]
    bearer = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
    assert requests.get(f"{base}{path}", headers=bearer, timeout=10).status_code == 200
    basic = ("anyone", DASHBOARD_TOKEN)
    assert requests.get(f"{base}{path}", auth=basic, timeout=10).status_code == 200
    wrong = ("anyone", DASHBOARD_TOKEN + "x")
    assert requests.get(f"{base}{path}", auth=wrong, timeout=10).status_code == 401


# --- the whole service ---------------------------------------------------------------


def test_serve_runs_worker_processes_and_acknowledges_while_they_work(
    database_url: str, tmp_path: Path
) -> None:
    with FakeGitLab() as fake:
        org = fake.create_group("gitlab-org")
        project = fake.create_project(org, "gitlab")
        bot, alice = fake.create_user("rollout-bot"), fake.create_user("alice")
        fake.add_member(org, bot, MAINTAINER)
        fake.add_member(org, alice, MAINTAINER)
        env = clean_env(
            DATABASE_URL=database_url,
            DEFINITIONS="",
            GITLAB_URL=fake.url,
            GITLAB_TOKEN=bot.token,
            WEBHOOK_SECRET=SECRET,
            WORKER_THREADS="1",
        )
        created = CliRunner(env=env).invoke(
            main, ["issue", "create", FLAG, "--project", "gitlab-org/gitlab"]
        )
        assert created.exit_code == 0, created.output
        iid = int(created.stdout.strip().rsplit("/", 1)[1])
        engine = make_engine(database_url)
        try:
            with serving(tmp_path, env, "--workers", "1", "--worker-processes", "2") as served:
                base, pid = served
                pids = children_of(pid)
                children = [command_line(child) for child in pids]
                workers = [argv for argv in children if argv[3:4] == ["worker"]]
                webs = [argv for argv in children if argv[3:5] == ["serve", "--no-worker"]]
                assert len(workers) == 2, children
                assert len(webs) == 1, children
                # Workers yield the CPU to the web process (ROLLOUT_BOT_WORKER_NICE, 10).
                web_nice = os.getpriority(os.PRIO_PROCESS, pid)
                worker_pids = [
                    child
                    for child, argv in zip(pids, children, strict=True)
                    if argv[3:4] == ["worker"]
                ]

                def niced() -> bool:
                    nices = [os.getpriority(os.PRIO_PROCESS, child) for child in worker_pids]
                    return nices == [web_nice + 10] * 2

                assert wait_for(niced), "worker processes kept the web process's priority"
                fake.add_hook(f"{base}/webhook", token=SECRET)
                fake.delay(3.0, n=50)  # GitLab answers slowly from now on
                tick(fake, alice, project, iid, "enable-non-production-command")
                busy = wait_for(lambda: inbox.counts(engine).get(inbox.PROCESSING, 0) > 0)
                assert busy, "no worker process claimed the delivery"
                started = time.monotonic()
                (delivery,) = fake.edit_issue_as(
                    alice, project, iid, title="[Feature flag] renamed while the worker works"
                )
                assert time.monotonic() - started < SANITY_SECONDS
                assert delivery.status_code == 200, delivery.error  # answered, not queued
                assert inbox.counts(engine).get(inbox.PROCESSING, 0) > 0  # still working
                fake.faults.clear()
                assert wait_for(lambda: inbox.counts(engine).get(inbox.DONE) == 1, 60)
        finally:
            engine.dispose()
        first = fake.deliveries[0]
        assert first.status_code == 202, first.response_body
        assert json.loads(first.response_body)["status"] == "queued"


def tick(fake: FakeGitLab, user: User, project: Project, iid: int, step: str) -> None:
    description = set_checked(fake.issue(project, iid).description or "", step, True)
    fake.edit_issue_as(user, project, iid, description=description)


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except sa.exc.OperationalError:  # SQLite busy while a worker writes
            pass
        time.sleep(0.05)
    return False
