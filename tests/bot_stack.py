"""The whole bot on loopback for end-to-end tests: fake GitLab, our app, real workers.

Nothing of ours is mocked: python-gitlab talks HTTP to the fake, the fake
delivers real webhooks to our Flask app served on loopback, deliveries go
through the real inbox in SQLite or PostgreSQL, and workers run as threads
(or, for the crash test, as a `rollout-bot worker` process).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from click.testing import CliRunner

from flags.state import FlagState
from gitlab_ops import issue_updates
from rollout_bot.cli import main
from rollout_bot.config import Settings
from rollout_bot.runtime import Runtime, open_runtime
from rollout_bot.server import build
from rollout_bot.services import build_bot, build_worker
from templates.state_note import STATE_NOTE_MARKER
from templates.steps import set_checked
from templates.tasklist import parse_tasks
from tests.fake_gitlab import FakeGitLab
from tests.fake_gitlab.models import DEVELOPER, MAINTAINER, Project, User
from tests.fake_gitlab.server import LoopbackServer
from webhook import inbox
from webhook.worker import Worker

FLAG = "product_intelligence_database_event_tracking"
SECRET = "s3cret-token"
DASHBOARD_TOKEN = "dashboard-t0ken"
DASHBOARD_AUTH = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}


@dataclass
class BotStack:
    fake: FakeGitLab
    runtime: Runtime
    env: dict[str, str]
    project: Project
    bot: User
    alice: User  # Maintainer
    dave: User  # Developer
    worker: Worker | None = None
    servers: list[LoopbackServer] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        result = CliRunner(env=self.env).invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output + result.stderr
        return result.stdout

    def open_issue(self, *options: str, project: Project | None = None) -> int:
        path = f"gitlab-org/{(project or self.project).path}"
        url = self.cli("issue", "create", FLAG, "--project", path, *options)
        return int(url.strip().rsplit("/", 1)[1])

    def new_project(self, path: str) -> Project:
        return self.fake.create_project(self.fake.state.group("gitlab-org"), path)

    def description(self, iid: int, project: Project | None = None) -> str:
        return self.fake.issue(project or self.project, iid).description or ""

    def checked(self, iid: int, step: str) -> bool:
        (task,) = [t for t in parse_tasks(self.description(iid)) if t.marker == step]
        return task.checked

    def tick(
        self, user: User, iid: int, step: str, checked: bool = True, project: Project | None = None
    ) -> None:
        description = set_checked(self.description(iid, project), step, checked)
        self.fake.edit_issue_as(user, project or self.project, iid, description=description)

    def edit(self, user: User, iid: int, old: str, new: str) -> None:
        description = self.description(iid)
        assert old in description
        self.fake.edit_issue_as(user, self.project, iid, description=description.replace(old, new))

    def bot_notes(self, iid: int, project: Project | None = None) -> list[str]:
        """The bot's comments, without its state note (edited in place, not a comment)."""
        issue = self.fake.issue(project or self.project, iid)
        return [
            n.body
            for n in issue.notes
            if n.author_id == self.bot.id and not n.system and STATE_NOTE_MARKER not in n.body
        ]

    def state_notes(self, iid: int, project: Project | None = None) -> list[str]:
        issue = self.fake.issue(project or self.project, iid)
        return [
            n.body
            for n in issue.notes
            if n.author_id == self.bot.id and STATE_NOTE_MARKER in n.body
        ]

    def wait_updates(self, timeout: float = 30.0) -> None:
        """Until every delivery and every issue update is done or failed (a delivery may
        queue an update, and posting one may bring a delivery: both at once)."""
        deadline = time.monotonic() + timeout
        while True:
            self.wait_idle(max(0.1, deadline - time.monotonic()))
            counts = issue_updates.counts(self.runtime.engine)
            if not counts.get(issue_updates.PENDING) and not counts.get(issue_updates.PROCESSING):
                if not inbox.counts(self.runtime.engine).get(inbox.PENDING):
                    return
            assert time.monotonic() < deadline, f"issue updates not drained: {counts}"
            time.sleep(0.05)

    def state(self, environment: str = "production") -> FlagState | None:
        return self.runtime.store.snapshot().get(environment, FLAG)

    def worker_for_test(self) -> Worker:
        """A worker to drive by hand with run_once(), for deterministic ordering."""
        return build_worker(self.runtime, build_bot(self.runtime))

    def drain(self) -> None:
        """Process every ready delivery in this thread, one at a time (no worker started)."""
        worker = self.worker_for_test()
        while worker.run_once():
            pass

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until every delivery is done or failed."""
        deadline = time.monotonic() + timeout
        while True:
            counts = inbox.counts(self.runtime.engine)
            if not counts.get(inbox.PENDING) and not counts.get(inbox.PROCESSING):
                return
            assert time.monotonic() < deadline, f"inbox not drained: {counts}"
            time.sleep(0.05)


@contextmanager
def bot_stack(
    database_url: str,
    *,
    workers: int = 2,
    start_worker: bool = True,
    signing_secret: str | None = None,
    environ: dict[str, str] | None = None,
    **settings: object,
) -> Iterator[BotStack]:
    """`environ` adds to the bot's environment variables (the CLI's too); `settings`
    replace fields of the settings read from them, for the service only."""
    with FakeGitLab() as fake:
        org = fake.create_group("gitlab-org")
        project = fake.create_project(org, "gitlab")
        bot = fake.create_user("rollout-bot")
        alice = fake.create_user("alice")
        dave = fake.create_user("dave")
        fake.add_member(org, bot, MAINTAINER)
        fake.add_member(org, alice, MAINTAINER)
        fake.add_member(org, dave, DEVELOPER)
        env = {
            "ROLLOUT_BOT_DATABASE_URL": database_url,
            "ROLLOUT_BOT_DEFINITIONS": "",
            "ROLLOUT_BOT_GITLAB_URL": fake.url,
            "ROLLOUT_BOT_GITLAB_TOKEN": bot.token,
            "ROLLOUT_BOT_WEBHOOK_SECRET": SECRET,
            "ROLLOUT_BOT_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
            "ROLLOUT_BOT_WORKER_THREADS": str(workers),
            "ROLLOUT_BOT_LEASE_SECONDS": "5",
            "ROLLOUT_BOT_RETRY_BASE_SECONDS": "0.2",
            "ROLLOUT_BOT_MAX_ATTEMPTS": "8",
            **(environ or {}),
        }
        base = Settings.from_env(env)
        base = dataclasses.replace(base, signing_secret=signing_secret)
        runtime = open_runtime(dataclasses.replace(base, **settings))  # type: ignore[arg-type]
        app, worker = build(runtime, embedded_worker=start_worker)
        server = LoopbackServer(app, "rollout-bot")
        server.start()
        fake.add_hook(f"{server.url}/webhook", token=SECRET, signing_token=signing_secret)
        stack = BotStack(fake, runtime, env, project, bot, alice, dave, worker, [server])
        if worker is not None:
            worker.start()
        try:
            yield stack
        finally:
            if worker is not None:
                worker.stop()
            server.stop()
            runtime.engine.dispose()
