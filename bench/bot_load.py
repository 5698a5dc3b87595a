"""The whole bot as deployed, for the benches: the fake GitLab on loopback, rollout issues,
`rollout-bot serve` (receiving only) and `rollout-bot worker` processes started here.

Shared by `webhook_ack.py` (acknowledgements while workers drain) and `fault_run.py`
(workers killed, GitLab failing, PostgreSQL restarted). Workers are always separate
processes, so the figures measure that deployment whether or not `serve` embeds any.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from click.testing import CliRunner  # noqa: E402

from rollout_bot.cli import main as cli_main  # noqa: E402
from tests.fake_gitlab import FakeGitLab  # noqa: E402
from tests.fake_gitlab.models import MAINTAINER, Project, User  # noqa: E402
from webhook import inbox  # noqa: E402

BIN = Path(sys.executable).parent
FLAG = "product_intelligence_database_event_tracking"
SECRET = "bench-webhook-secret"
ACK_STEP = "verify-non-production"  # no command: a tick makes a comment, no change
COMMAND_STEP = "enable-non-production-command"  # sets the flag in 3 environments
PG_ADMIN_URL = os.environ.get(
    "ROLLOUT_BOT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class LoadError(Exception):
    """A process did not start, or the inbox did not drain in time."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh database, migrated, dropped at the end."""
    from rollout_bot import database

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"rollout_bot_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        database.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Fleet:
    """The fake GitLab with `issues` rollout issues, and the processes started for it."""

    fake: FakeGitLab
    env: dict[str, str]
    alice: User
    bot: User
    issues: list[tuple[Project, int]]  # one rollout issue per project: one per flag there
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ticked: dict[tuple[int, str], bool] = field(default_factory=dict)

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}-{len(self.processes)}.log").open("ab")
        process = subprocess.Popen(
            [str(BIN / "rollout-bot"), *args],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def serve(self, workers: int = 2) -> str:
        """`rollout-bot serve --no-worker`; the fake's hook points at it. Its URL."""
        port = free_port()
        self.start(
            "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--no-worker", name="serve",
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_http(port)
        self.fake.add_hook(f"{url}/webhook", token=SECRET)
        return url

    def workers(self, n: int) -> list[subprocess.Popen[bytes]]:
        return [self.start("worker", name="worker") for _ in range(n)]

    def tick(self, n: int, step: str = ACK_STEP) -> None:
        """`n` edits round-robin over the issues, each flipping `step`; each edit's Issue
        Hook is delivered (and acknowledged) before the next."""
        from templates.steps import set_checked

        for i in range(n):
            project, iid = self.issues[i % len(self.issues)]
            checked = not self.ticked.get((project.id, step), False)
            self.ticked[(project.id, step)] = checked
            issue = self.fake.issue(project, iid)
            description = set_checked(issue.description or "", step, checked)
            self.fake.edit_issue_as(self.alice, project, iid, description=description)

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)

    def stop_all(self) -> None:
        while self.processes:
            self.stop(self.processes.pop())


def wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise LoadError(f"nothing answered on port {port} in {timeout}s")


def define(folder: Path, flags: list[str]) -> Path:
    """Flag definitions for `flags`, copies of the project's own flag's."""
    source = REPO / "config" / "feature_flags" / "development" / f"{FLAG}.yml"
    text = source.read_text(encoding="utf-8")
    (folder / "development").mkdir(parents=True, exist_ok=True)
    for name in flags:
        (folder / "development" / f"{name}.yml").write_text(
            text.replace(FLAG, name), encoding="utf-8"
        )
    return folder


@contextmanager
def fleet(
    database_url: str,
    directory: Path,
    issues: int = 20,
    flags: list[str] | None = None,
    **env: str,
) -> Iterator[Fleet]:
    """`issues` rollout issues, each in its own project; of `flags[n]` (defined here,
    as copies of the project's flag) or all of the project's own flag."""
    with FakeGitLab() as fake:
        org = fake.create_group("gitlab-org")
        bot = fake.create_user("rollout-bot")
        alice = fake.create_user("alice")
        fake.add_member(org, bot, MAINTAINER)
        fake.add_member(org, alice, MAINTAINER)
        environ = {
            k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_BOT_", "GUNICORN"))
        }
        environ.update(
            ROLLOUT_BOT_DATABASE_URL=database_url,
            ROLLOUT_BOT_DEFINITIONS="",
            ROLLOUT_BOT_GITLAB_URL=fake.url,
            ROLLOUT_BOT_GITLAB_TOKEN=bot.token,
            ROLLOUT_BOT_WEBHOOK_SECRET=SECRET,
            **env,
        )
        if flags:
            environ["ROLLOUT_BOT_DEFINITIONS"] = str(define(directory / "definitions", flags))
        runner = CliRunner(env=environ)
        directory.mkdir(parents=True, exist_ok=True)
        made = Fleet(fake, environ, alice, bot, [], directory)
        for n in range(issues):
            project = fake.create_project(org, f"service-{n}")
            path = f"gitlab-org/{project.path}"
            flag = flags[n] if flags else FLAG
            done = runner.invoke(cli_main, ["issue", "create", flag, "--project", path])
            if done.exit_code != 0:
                raise LoadError(f"issue create failed: {done.output}")
            made.issues.append((project, int(done.stdout.strip().rsplit("/", 1)[1])))
        try:
            yield made
        finally:
            made.stop_all()


def wait_drained(engine: sa.Engine, timeout: float) -> float:
    """Seconds until no delivery is pending or processing."""
    start = time.monotonic()
    while True:
        counts = inbox.counts(engine)
        if not counts.get(inbox.PENDING) and not counts.get(inbox.PROCESSING):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise LoadError(f"inbox not drained after {timeout}s: {counts}")
        time.sleep(0.05)
