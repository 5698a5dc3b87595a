"""The issue updates hold their leases as deliveries do: on the database's clock, renewed
while a comment is posted, taken over once expired, checked before each GitLab write, and
a `Retry-After` waited out as one attempt. Against the fake GitLab, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from gitlab_ops import issue_posting, issue_updates
from gitlab_ops.client import GitLab
from gitlab_ops.issue_updates import IssueUpdate
from gitlab_ops.update_schema import issue_updates as updates_table
from templates.state_note import update_marker
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.fake_gitlab import RecordedRequest
from webhook.issue_update_job import IssueUpdateJob

HELLO = "Queued while GitLab was away."


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url, start_worker=False) as running:
        yield running


def _queue_comment(stack: BotStack) -> tuple[int, IssueUpdate]:
    iid = stack.open_issue()
    issue_updates.enqueue(stack.runtime.engine, stack.project.id, iid, FLAG, comment=HELLO)
    (comment,) = [
        u
        for u in issue_updates.listing(stack.runtime.engine, [issue_updates.PENDING])
        if u.kind == issue_updates.COMMENT
    ]
    return iid, comment


def _job(stack: BotStack, name: str, lease: float = 30.0) -> IssueUpdateJob:
    (job,) = [j for j in stack.worker_for_test().jobs if isinstance(j, IssueUpdateJob)]
    job.name, job.lease = name, lease
    return job


def _posts_of(stack: BotStack, update: IssueUpdate) -> list[RecordedRequest]:
    marker = update_marker(update.key)
    return [r for r in stack.fake.requests_to("POST", r"/notes$") if marker in r.json["body"]]


def _writes(stack: BotStack) -> int:
    return sum(len(stack.fake.requests_to(method, ".")) for method in ("POST", "PUT"))


def _get(stack: BotStack, update_id: int) -> IssueUpdate:
    (update,) = [u for u in issue_updates.listing(stack.runtime.engine) if u.id == update_id]
    return update


def _expire_leases(stack: BotStack) -> None:
    # As a worker that froze would leave it: its lease ran out by the database's clock.
    with stack.runtime.engine.begin() as conn:
        conn.execute(
            sa.update(updates_table)
            .where(updates_table.c.status == issue_updates.PROCESSING)
            .values(locked_until=issue_updates.utcnow() - dt.timedelta(seconds=1))
        )


def test_an_expired_lease_is_taken_over_and_the_loser_writes_nothing(stack: BotStack) -> None:
    engine = stack.runtime.engine
    iid, queued = _queue_comment(stack)
    frozen = issue_updates.claim(engine, "frozen", lease=30)
    assert frozen is not None and frozen.id == queued.id
    # Unexpired, the lease keeps every other worker off the issue.
    assert issue_updates.claim(engine, "other", lease=30) is None
    _expire_leases(stack)
    taken = issue_updates.claim(engine, "other", lease=30)
    assert taken is not None and taken.id == frozen.id and taken.attempts == 2

    # The frozen worker wakes up: it stops before its GitLab write and settles nothing.
    job = _job(stack, "frozen")
    client = GitLab(stack.fake.url, stack.bot.token)
    writes = _writes(stack)
    status = issue_posting.deliver(
        engine, client, frozen, "frozen", job.context, job.policy, lease_seconds=30
    )
    assert status == issue_posting.LOST
    assert _writes(stack) == writes
    assert not issue_updates.complete(engine, frozen.id, "frozen")
    assert _get(stack, frozen.id).status == issue_updates.PROCESSING

    # Its new owner posts it, once.
    status = issue_posting.deliver(
        engine, client, taken, "other", job.context, job.policy, lease_seconds=30
    )
    assert status == issue_posting.POSTED
    assert len(_posts_of(stack, taken)) == 1
    assert sum(HELLO in note for note in stack.bot_notes(iid)) == 1


def test_a_post_slower_than_three_leases_is_not_taken_over(stack: BotStack) -> None:
    _, queued = _queue_comment(stack)
    slow, other = _job(stack, "slow", lease=0.5), _job(stack, "other", lease=0.5)
    stack.fake.delay(1.8, 1, method="POST", path=r"/notes$")  # over 3 leases
    posting = threading.Thread(target=slow, args=("t0",))
    posting.start()
    try:
        deadline = time.monotonic() + 30
        # The other worker keeps claiming meanwhile: the comment's lease never runs out,
        # and the state note refresh behind it waits for it.
        while _get(stack, queued.id).status != issue_updates.DONE:
            assert time.monotonic() < deadline, "the comment was never posted"
            other("t1")
            time.sleep(0.05)
    finally:
        posting.join(30)
    posted = _get(stack, queued.id)
    assert posted.attempts == 1  # never claimed a second time
    assert len(_posts_of(stack, queued)) == 1


def test_retry_after_is_waited_out_as_one_attempt(stack: BotStack) -> None:
    _, queued = _queue_comment(stack)
    job = _job(stack, "worker")
    # The stack's retry base is 0.2 s: only Retry-After can hold it for 2.
    stack.fake.fail_next(1, 429, retry_after=2, method="POST", path=r"/notes$")
    deadline = time.monotonic() + 30
    while _get(stack, queued.id).status != issue_updates.DONE:
        assert time.monotonic() < deadline, "the comment was never posted"
        if not job("t0"):
            time.sleep(0.05)
    refused, posted = _posts_of(stack, queued)
    assert refused.status == 429 and posted.status == 201
    assert posted.at - refused.at >= 2.0
    done = _get(stack, queued.id)
    assert done.attempts == 2 and "429" in (done.last_error or "")
