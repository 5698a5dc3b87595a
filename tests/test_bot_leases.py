"""Leases that hold, one comment per delivery, retries done once by us, bounded work.

Real workers against the fake GitLab on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from flags.state import FlagState
from gitlab_ops.client import GitLab
from gitlab_ops.errors import TransientGitLabError
from gitlab_ops.lease import Lease, LeaseLost
from gitlab_ops.retry import RetryLater
from templates.steps import set_checked
from templates.tasklist import parse_tasks
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.fake_gitlab import RecordedRequest
from webhook import comments, inbox
from webhook.inbox import Delivery
from webhook.schema import inbox_deliveries

MEMBERS = r"/members/all/\d+$"


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url) as running:
        yield running


def _answers(stack: BotStack) -> list[RecordedRequest]:
    """The POSTs of delivery comments (not of the state note)."""
    posts = stack.fake.requests_to("POST", r"/notes$")
    return [r for r in posts if "rollout-bot:delivery=" in r.json["body"]]


def _queued(stack: BotStack, timeout: float = 10.0) -> Delivery:
    stack.fake.wait_for_deliveries(timeout)
    (delivery,) = inbox.listing(stack.runtime.engine)
    return delivery


def test_a_gitlab_answer_slower_than_three_leases_gives_one_comment(database_url: str) -> None:
    with bot_stack(database_url, lease_seconds=0.5) as stack:
        # A second worker, as another process would be, waiting for the lease to run out.
        other = stack.worker_for_test()
        other.name = "other-process"
        other.start()
        try:
            iid = stack.open_issue()
            changes = len(stack.runtime.store.history(FLAG))
            stack.fake.delay(1.8, 1, method="POST", path=r"/notes$")  # over 3 leases
            stack.tick(stack.alice, iid, "enable-non-production-command")
            stack.wait_idle(timeout=30)
        finally:
            other.stop()
        assert len(stack.bot_notes(iid)) == 1
        assert len(_answers(stack)) == 1  # posted once, not once per claim
        # One change: one audit row per environment it set (dev, staging, staging-ref).
        assert len(stack.runtime.store.history(FLAG)) == changes + 3
        assert stack.state("dev") == FlagState(boolean=True)
        (delivery,) = inbox.listing(stack.runtime.engine, [inbox.DONE])
        assert delivery.attempts == 1  # never claimed a second time


def test_two_workers_racing_on_an_expired_lease_give_one_comment(database_url: str) -> None:
    with bot_stack(database_url, start_worker=False, lease_seconds=30) as stack:
        engine = stack.runtime.engine
        iid = stack.open_issue()
        stack.tick(stack.alice, iid, "enable-non-production-command")
        queued = _queued(stack)
        # A worker claimed it and froze (no heartbeat): its lease has run out.
        frozen = inbox.claim(engine, "frozen", lease=30)
        assert frozen is not None and frozen.id == queued.id
        with engine.begin() as conn:
            conn.execute(
                sa.update(inbox_deliveries).values(
                    locked_until=inbox.utcnow() - dt.timedelta(seconds=1)
                )
            )
        racers = [stack.worker_for_test(), stack.worker_for_test()]
        for n, racer in enumerate(racers):
            racer.name = f"racer-{n}"
        start = threading.Barrier(2)
        claimed: list[bool] = []

        def race(n: int) -> None:
            start.wait()
            claimed.append(racers[n].run_once(f"t{n}"))

        threads = [threading.Thread(target=race, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(claimed) == [False, True]
        assert len(stack.bot_notes(iid)) == 1

        # The frozen worker wakes up: it stops before its next GitLab write, and its
        # lease no longer lets it finish the delivery.
        writes = len(stack.fake.requests_to("POST", r".")) + len(stack.fake.requests_to("PUT", "."))
        bot = racers[0].handle
        lease = Lease(lambda: inbox.renew(engine, frozen.id, "frozen", lease=30), every=10)
        lost = False
        with lease.held():
            try:
                bot(frozen)
            except LeaseLost:
                lost = True
        assert lost
        after = len(stack.fake.requests_to("POST", r".")) + len(stack.fake.requests_to("PUT", "."))
        assert after == writes
        assert not inbox.complete(engine, frozen.id, "frozen")
        assert len(stack.bot_notes(iid)) == 1
        (done,) = inbox.listing(engine, [inbox.DONE])
        assert done.attempts == 2


def test_retry_after_is_waited_out_by_the_worker_as_one_attempt(database_url: str) -> None:
    with bot_stack(database_url, workers=1) as stack:
        iid = stack.open_issue()
        stack.fake.fail_next(1, 429, retry_after=2, method="POST", path=r"/notes$")
        stack.tick(stack.alice, iid, "enable-non-production-command")
        stack.wait_idle(timeout=30)
        refused, posted = _answers(stack)
        assert refused.status == 429 and posted.status == 201
        assert posted.at - refused.at >= 2.0
        (delivery,) = inbox.listing(stack.runtime.engine, [inbox.DONE])
        # python-gitlab did not sleep through it: the worker's second attempt posted.
        assert delivery.attempts == 2 and "429" in (delivery.last_error or "")
        assert len(stack.bot_notes(iid)) == 1


def test_no_layer_under_the_client_repeats_a_post(stack: BotStack) -> None:
    iid = stack.open_issue()
    client = GitLab(stack.fake.url, stack.bot.token)
    for status, retry_after in ((503, None), (429, 3), (502, None)):
        before = len(stack.fake.requests_to("POST", r"/notes$"))
        stack.fake.fail_next(1, status, retry_after=retry_after, method="POST", path=r"/notes$")
        try:
            client.create_note(stack.project.id, iid, "hello")
        except TransientGitLabError as exc:
            waited = exc.retry_after if isinstance(exc, RetryLater) else None
        else:
            raise AssertionError("the failure was hidden")
        assert waited == retry_after
        assert len(stack.fake.requests_to("POST", r"/notes$")) == before + 1


def test_an_edit_ticking_51_steps_runs_none_and_says_why(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        iid = stack.open_issue()
        description = stack.description(iid)
        steps = [t.marker for t in parse_tasks(description) if t.marker and not t.checked]
        extra = [f"extra-{n}" for n in range(max(0, 51 - len(steps)))]
        if extra:
            lines = "".join(f"- [ ] <!-- step:{m} --> Extra step {m}\n" for m in extra)
            stack.fake.edit_issue_as(
                stack.alice, stack.project, iid, description=f"{description}\n{lines}"
            )
            stack.wait_idle()
        ticked = stack.description(iid)
        for step in (steps + extra)[:51]:
            assert step is not None
            ticked = set_checked(ticked, step, True)
        changes = len(stack.runtime.store.history(FLAG))
        members = len(stack.fake.requests_to("GET", MEMBERS))
        stack.fake.edit_issue_as(stack.alice, stack.project, iid, description=ticked)
        stack.wait_updates()
        (note,) = stack.bot_notes(iid)
        assert comments.TOO_MANY_STEPS.format(username="alice", count=51, limit=50) in note
        assert stack.description(iid) == ticked  # every box as the person left it
        assert len(stack.runtime.store.history(FLAG)) == changes
        assert len(stack.fake.requests_to("GET", MEMBERS)) == members


def test_access_level_is_read_once_per_user_per_delivery(stack: BotStack) -> None:
    iid = stack.open_issue()
    ticked = stack.description(iid)
    both = ("enable-non-production-command", "verify-non-production", "deployed-production")
    for step in both:
        ticked = set_checked(ticked, step, True)
    members = len(stack.fake.requests_to("GET", MEMBERS))
    stack.fake.edit_issue_as(stack.alice, stack.project, iid, description=ticked)
    stack.wait_updates()
    (note,) = stack.bot_notes(iid)
    assert note.count("@alice") >= 3
    assert len(stack.fake.requests_to("GET", MEMBERS)) == members + 1


def test_a_comment_never_exceeds_gitlabs_note_limit() -> None:
    from webhook.step_outcome import StepOutcome

    huge = "x" * (comments.NOTE_LIMIT + 10)
    outcome = StepOutcome("refused", "s", huge, reason=huge)
    body = comments.step_comment("key", "alice", [outcome, outcome])
    assert len(body) <= comments.NOTE_LIMIT
    assert body.startswith(comments.delivery_marker("key"))
    assert "over GitLab's comment limit" in body and "more characters" in body
    assert len(comments.fit("y" * (comments.NOTE_LIMIT * 2), "key")) <= comments.NOTE_LIMIT
