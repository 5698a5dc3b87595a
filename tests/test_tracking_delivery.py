"""Delivery: retries keep event ids, rejections are dropped, nothing waits on the
collector, a killed process loses nothing, processes share the outbox, fork is safe."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.snowplow_collector import Collector, Stall
from tests.snowplow_collector.stack import FAST, Stack, event_id, new_stage, standard_of

REPO = Path(__file__).resolve().parent.parent


def _exit_code(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked child {pid} hung")


def test_500_then_200_delivers_every_event_once_with_its_first_event_id(stack: Stack) -> None:
    stack.collector.answer(500, 500, 503)
    stack.commit(*(new_stage(group_id=1) for _ in range(5)))

    events = stack.delivered(5)

    statuses = [r.status for r in stack.collector.requests]
    assert statuses == [500, 500, 503, 200]
    first_attempt = stack.collector.requests[0].event_ids
    assert sorted(first_attempt) == sorted(e["eid"] for e in events)
    assert len(set(first_attempt)) == 5
    for retried in stack.collector.requests[1:]:
        assert retried.event_ids == first_attempt
    snapshot = stack.tracker.snapshot()
    assert (snapshot.queued, snapshot.sent, snapshot.retried) == (5, 5, 15)
    assert snapshot.last_error is not None and "HTTP 503" in snapshot.last_error


def test_a_backlog_is_claimed_ahead_and_retried_without_loss_or_duplicates(stack: Stack) -> None:
    stack.reinstall(settings=dataclasses.replace(FAST, batch_size=10, claim_batches=2))
    stack.collector.answer(200, 500, 200, 200, 503, 200, 500)
    stack.commit(*(new_stage() for _ in range(100)))

    ids = {e["eid"] for e in stack.delivered(100)}

    assert len(ids) == 100
    assert stack.tracker.snapshot().retried == 30
    assert stack.outbox_depth() == 0


def test_400_is_not_resent_and_counts_as_rejected(stack: Stack) -> None:
    stack.collector.answer(400)
    stack.commit(*(new_stage() for _ in range(3)))
    assert stack.tracker.flush(5) == 0

    assert [r.status for r in stack.collector.requests] == [400]
    assert stack.tracker.snapshot().rejected == 3
    stack.only_marker_arrives()
    assert [r.status for r in stack.collector.requests] == [400, 200]
    assert stack.tracker.snapshot().rejected == 3


def test_a_stalled_collector_never_delays_a_commit(stack: Stack) -> None:
    stack.reinstall(settings=dataclasses.replace(FAST, read_timeout=0.5, lease=2.0))
    stack.collector.answer(Stall(2.0))
    stack.commit(new_stage())  # the sender's first post now hangs
    time.sleep(0.1)

    commits = []
    for _ in range(20):
        started = time.perf_counter()
        stack.commit(new_stage())
        commits.append(time.perf_counter() - started)

    assert stack.collector.requests == []  # still stalled, and nothing waited for it
    assert max(commits) < 0.25, commits
    # The stalled post timed out and was retried with the same ids.
    assert stack.tracker.flush(10) == 0
    assert len(set(stack.collector.accepted_ids())) == 21


def test_a_process_killed_while_the_collector_is_down_loses_nothing(
    stack: Stack, collector: Collector
) -> None:
    count = 12
    with socket.socket() as down:
        down.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        refused = f"http://127.0.0.1:{down.getsockname()[1]}"
        command = [sys.executable, "-m", "tests.snowplow_collector.child"]
        with subprocess.Popen(
            [*command, stack.url, refused, str(count)], cwd=REPO, stdout=subprocess.PIPE, text=True
        ) as child:
            try:
                assert child.stdout is not None
                assert child.stdout.readline().strip() == f"committed {count}"
                time.sleep(0.2)  # its sender claims, fails, retries meanwhile
            finally:
                child.send_signal(signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL

    with stack.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT payload FROM tracking_outbox")).scalars().all()
    assert len(stored) == count
    with stack.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT max(attempts) FROM tracking_outbox")) >= 1
    committed_ids = {event_id(payload) for payload in stored}

    # This process is the restart: its sender takes over once the dead one's lease ends.
    stack.tracker.start()
    events = stack.delivered(count, timeout=15)
    assert {e["eid"] for e in events} == committed_ids
    assert sorted(standard_of(e)["extra"]["name"] for e in events) == sorted(
        f"child {i}" for i in range(count)
    )


def test_several_senders_share_one_outbox_without_sending_twice(stack: Stack) -> None:
    small = dataclasses.replace(FAST, batch_size=7)
    first = stack.reinstall(settings=small)
    second = stack.install(settings=small, session_factory=sa.orm.sessionmaker(stack.engine))
    second.start()
    stack.collector.default = Stall(0.01)  # keeps the first sender busy

    stack.commit(*(new_stage() for _ in range(150)))

    assert first.flush(15) == 0
    ids = stack.collector.accepted_ids()
    assert len(ids) == 150
    assert len(set(ids)) == 150
    sent = (first.snapshot().sent, second.snapshot().sent)
    assert sum(sent) == 150
    assert min(sent) > 0, sent  # both took part


def test_close_drains_within_its_deadline_and_reports_what_is_left(stack: Stack) -> None:
    stack.collector.default = 500
    stack.commit(*(new_stage() for _ in range(4)))

    started = time.monotonic()
    assert stack.tracker.close(0.5) == 4
    assert time.monotonic() - started < 1.5
    assert stack.outbox_depth() == 4

    stack.collector.default = 200
    stack.reinstall().start()
    assert len(stack.delivered(4)) == 4


def test_memory_mode_drops_and_counts_when_full_and_never_blocks(stack: Stack) -> None:
    tracker = stack.reinstall(durable=False, queue_size=3)
    stack.collector.default = 500

    started = time.perf_counter()
    for _ in range(5):
        stack.commit(new_stage())
    assert time.perf_counter() - started < 1.0

    snapshot = tracker.snapshot()
    assert (snapshot.queued, snapshot.dropped) == (3, 2)
    assert stack.outbox_depth() == 0
    stack.collector.default = 200
    assert len(stack.delivered(3)) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_forked_child_runs_its_own_sender(stack: Stack) -> None:
    stack.marker()
    stack.delivered(1)
    parent_process = stack.tracker.counters.process

    pid = os.fork()
    if pid == 0:  # the child: report through the exit code and stderr only
        code = 1
        try:
            stack.commit(new_stage(name="from the child"))
            fresh = stack.tracker.counters.process != parent_process
            code = 0 if stack.tracker.flush(5) == 0 and fresh else 2
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    assert _exit_code(pid, timeout=15) == 0

    stack.commit(new_stage(name="from the parent"))
    events = stack.delivered(3)
    names = [standard_of(e)["extra"]["name"] for e in events[1:]]
    assert sorted(names) == ["from the child", "from the parent"]
