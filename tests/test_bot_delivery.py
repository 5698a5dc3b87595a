"""Nothing lost, nothing twice: redeliveries, parallel issues, crashes, GitLab failing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from flags.state import FlagState
from templates.tasklist import parse_tasks
from tests.bot_stack import FLAG, SECRET, BotStack, bot_stack
from webhook import inbox

ACK_STEPS = (
    "verify-non-production",
    "change-management",
    "documentation-updated",
    "announce-estimated-time",
)


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url) as running:
        yield running


def test_the_same_delivery_five_times_is_applied_and_answered_once(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    (tick,) = [
        d
        for d in stack.fake.deliveries
        if d.payload.get("object_attributes", {}).get("action") == "update"
    ]
    for _ in range(4):
        again = stack.fake.redeliver(tick.id)
        assert again.status_code == 202
        assert again.headers["Idempotency-Key"] == tick.headers["Idempotency-Key"]
    stack.wait_idle()
    assert len(stack.bot_notes(iid)) == 1
    assert len(stack.runtime.store.history(FLAG)) == 3  # one boolean row per environment
    assert inbox.counts(stack.runtime.engine) == {inbox.DONE: 1}


def test_twenty_ticks_over_five_issues_with_two_workers(stack: BotStack) -> None:
    projects = [stack.project] + [stack.new_project(f"p{n}") for n in range(4)]
    issues = [(project, stack.open_issue(project=project)) for project in projects]
    for step in ACK_STEPS:
        for project, iid in issues:
            stack.tick(stack.dave, iid, step, project=project)
    stack.wait_idle()
    assert inbox.counts(stack.runtime.engine) == {inbox.DONE: 20}
    texts = {t.marker: t.text for t in parse_tasks(stack.description(1))}
    for project, iid in issues:
        notes = stack.bot_notes(iid, project)
        # Each applied once, in tick order: comment n names the step of tick n.
        assert len(notes) == 4
        for note, step in zip(notes, ACK_STEPS, strict=True):
            assert f"@dave confirmed **{texts[step]}** at" in note


def test_gitlab_failing_for_a_while_then_the_comment_arrives_once(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.fake.fail_next(4, 500, method="POST", path=r"/notes$")
    stack.fake.fail_next(3, 429, retry_after=1, method="GET", path=r"/issues/\d+$")
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle(timeout=60)
    assert len(stack.bot_notes(iid)) == 1
    assert stack.state("dev") == FlagState(boolean=True)
    assert len(stack.runtime.store.history(FLAG)) == 3
    (delivery,) = inbox.listing(stack.runtime.engine)
    assert delivery.status == inbox.DONE and delivery.attempts > 1


def test_a_failed_delivery_is_listed_and_retried(database_url: str) -> None:
    with bot_stack(database_url, max_attempts=3) as stack:
        iid = stack.open_issue()
        stack.fake.fail_next(100, 503, method="GET", path=r"/issues/\d+$")
        stack.tick(stack.alice, iid, "enable-non-production-command")
        stack.wait_idle(timeout=60)
        (failed,) = inbox.listing(stack.runtime.engine, [inbox.FAILED])
        assert "GitLab answered 503" in (failed.last_error or "")
        assert stack.state("dev") is None and stack.bot_notes(iid) == []
        listed = stack.cli("inbox", "list", "--failed")
        assert f"{failed.id}  failed" in listed and "GitLab answered 503" in listed
        stack.fake.faults.clear()
        assert "queued again" in stack.cli("inbox", "retry", str(failed.id))
        stack.wait_idle()
        assert stack.state("dev") == FlagState(boolean=True)
        assert len(stack.bot_notes(iid)) == 1


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_nothing(database_url: str) -> None:
    with bot_stack(database_url, start_worker=False) as stack:
        iid = stack.open_issue()
        env = {**os.environ, **stack.env}
        # Hold the comment's POST, after the flag change: the worker dies in between, and
        # GitLab creates the note after all (the request was sent): a rerun must find it.
        stack.fake.delay(30, 1, method="POST", path=r"/notes$")
        stack.tick(stack.alice, iid, "enable-non-production-command")
        first = subprocess.Popen(
            [sys.executable, "-m", "rollout_bot", "worker"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while not stack.fake.requests_to("POST", r"/notes$"):
                assert time.monotonic() < deadline, "the worker never reached the comment"
                time.sleep(0.05)
            assert stack.state("dev") == FlagState(boolean=True)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(10)
        assert stack.bot_notes(iid) == []
        stack.fake.faults.clear()  # the held POST now lands: a comment nobody recorded
        second = subprocess.Popen(
            [sys.executable, "-m", "rollout_bot", "worker"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            stack.wait_idle(timeout=30)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
        assert len(stack.bot_notes(iid)) == 1
        assert len(stack.runtime.store.history(FLAG)) == 3
        (delivery,) = inbox.listing(stack.runtime.engine)
        assert delivery.status == inbox.DONE and delivery.attempts == 2
        # The rerun looked for it newest first, one page of notes.
        looks = [r for r in stack.fake.requests_to("GET", r"/notes$") if "page" in r.query]
        assert looks and all(look.query["page"] == "1" for look in looks)
        assert {(r.query["sort"], r.query["order_by"]) for r in looks} == {("desc", "created_at")}


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({"X-Gitlab-Event": "Issue Hook"}, b"{}", 401, "X-Gitlab-Token header is missing"),
        (
            {"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": "wrong"},
            b"{}",
            401,
            "X-Gitlab-Token does not match",
        ),
        (
            {"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": SECRET},
            b"{not json",
            400,
            "body is not JSON",
        ),
        (
            {"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": SECRET},
            b"x" * (26 * 1024 * 1024),
            413,
            "body is over the 26214400-byte limit",
        ),
        (
            {"X-Gitlab-Event": "Pipeline Hook", "X-Gitlab-Token": SECRET},
            b'{"object_kind": "x"}',
            200,
            "event kind not handled",
        ),
    ],
)
def test_bad_deliveries_change_nothing(
    stack: BotStack, headers: dict[str, str], body: bytes, status: int, reason: str
) -> None:
    iid = stack.open_issue()
    response = requests.post(
        f"{stack.servers[0].url}/webhook",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )
    assert response.status_code == status
    assert reason in json.loads(response.text)["reason"]
    assert inbox.counts(stack.runtime.engine) == {}
    assert stack.bot_notes(iid) == [] and stack.state("production") is None


def test_issue_create_opens_and_records_once(stack: BotStack) -> None:
    iid = stack.open_issue("--dri", "nbelokolodov")
    issue = stack.fake.issue(stack.project, iid)
    assert issue.title == f"[Feature flag] Rollout of `{FLAG}`"
    assert "@nbelokolodov" in (issue.description or "")
    from click.testing import CliRunner

    from rollout_bot.cli import main

    again = CliRunner(env=stack.env).invoke(
        main, ["issue", "create", FLAG, "--project", "gitlab-org/gitlab"]
    )
    assert again.exit_code == 1
    assert f"'{FLAG}' already has a rollout issue in gitlab-org/gitlab" in again.stderr
    assert list(stack.project.issues) == [iid]


def test_signed_deliveries_are_required_when_signing_is_configured(database_url: str) -> None:
    import base64

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    with bot_stack(database_url, signing_secret=secret) as stack:
        iid = stack.open_issue()
        stack.tick(stack.alice, iid, "enable-non-production-command")
        stack.wait_idle()
        assert stack.state("dev") == FlagState(boolean=True)
        tick = stack.fake.deliveries[-1]
        assert tick.status_code == 202 and "webhook-signature" in tick.headers
        unsigned = {k: v for k, v in tick.headers.items() if not k.startswith("webhook-")}
        response = requests.post(
            f"{stack.servers[0].url}/webhook", data=tick.body, headers=unsigned, timeout=10
        )
        assert response.status_code == 401
        assert "lacks webhook-id" in response.json()["reason"]
