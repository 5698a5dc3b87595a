"""Unticking says what happened, after it happened: through the bot and the fake GitLab.

A refused step is unticked before the comment is written, and the comment reports
the untick's result; a refused tick that a later delivery ticked again is left
ticked; a worker killed after unticking still reports the untick, once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from flags.state import FlagState
from tests.bot_stack import FLAG, SECRET, BotStack, bot_stack
from webhook import inbox
from webhook.schema import inbox_deliveries
from webhook.step_outcome import RETRY_HINT
from webhook.untick import ALREADY_UNTICKED, TICKED_AGAIN

ACTORS = "rollout-actors-command"  # refused while `<rollout-percentage>` is left in
NON_PRODUCTION = "enable-non-production-command"
PRODUCTION = "enable-production-command"
UNTICKED_AGAIN = f"The box was unticked again: {RETRY_HINT}."


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url, start_worker=False) as running:
        yield running


def test_the_comment_follows_the_untick_and_reports_it(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, ACTORS)
    stack.drain()
    assert not stack.checked(iid, ACTORS)
    (note,) = stack.bot_notes(iid)
    assert "refused, the command still has a placeholder" in note
    assert UNTICKED_AGAIN in note
    writes = [
        (r.method, r.path)
        for r in stack.fake.requests
        if r.method in ("PUT", "POST") and f"/issues/{iid}" in r.path
    ]
    assert [method for method, _ in writes] == ["PUT", "POST"]  # untick, then comment
    assert writes[1][1].endswith("/notes")


def test_a_refused_tick_ticked_again_later_is_left_to_that_delivery(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, NON_PRODUCTION)
    stack.drain()
    # Queued before the worker runs: Dave's refused tick, then Alice's untick and tick.
    stack.tick(stack.dave, iid, PRODUCTION)
    stack.tick(stack.alice, iid, PRODUCTION, checked=False)
    stack.tick(stack.alice, iid, PRODUCTION)
    stack.drain()

    assert stack.state("production") == FlagState(boolean=True)
    assert stack.checked(iid, PRODUCTION)
    _, daves, untick, alices = stack.bot_notes(iid)
    assert "@dave has Developer access; changing production needs Maintainer" in daves
    assert f"The box was not unticked: {TICKED_AGAIN}." in daves
    assert "@alice unticked" in untick
    assert "@alice ticked **Enable the feature globally on production" in alices
    assert f"ran `/chatops run feature set {FLAG} true`" in alices


def post(stack: BotStack, payload: dict[str, object]) -> None:
    answer = requests.post(
        f"{stack.servers[0].url}/webhook",
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Gitlab-Event": "Issue Hook",
            "X-Gitlab-Token": SECRET,
            "Idempotency-Key": str(uuid.uuid4()),
        },
        timeout=10,
    )
    assert answer.status_code == 202


def test_a_box_unticked_before_the_bot_gets_to_it_is_reported(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, NON_PRODUCTION)
    (genuine,) = [
        d for d in stack.fake.deliveries if d.payload["object_attributes"].get("action") == "update"
    ]
    # The delivery names another user than the editor: refused without reading the box.
    with stack.runtime.engine.begin() as conn:
        conn.execute(sa.delete(inbox_deliveries))
    payload = genuine.payload
    payload["user"] = {**payload["user"], "id": stack.dave.id, "username": "dave"}
    post(stack, payload)
    stack.tick(stack.alice, iid, NON_PRODUCTION, checked=False)
    stack.drain()

    assert stack.state("dev") is None
    refused, _ = stack.bot_notes(iid)
    assert "the event's author could not be confirmed" in refused
    assert f"The box was not unticked: {ALREADY_UNTICKED}." in refused
    assert UNTICKED_AGAIN not in refused


def test_a_worker_killed_right_after_unticking_still_reports_the_untick(
    database_url: str,
) -> None:
    with bot_stack(database_url, start_worker=False) as stack:
        iid = stack.open_issue()
        env = {**os.environ, **stack.env}
        # Hold the untick's write: the worker dies while GitLab applies it.
        stack.fake.delay(30, 1, method="PUT", path=r"/issues/\d+$")
        stack.tick(stack.alice, iid, ACTORS)
        first = subprocess.Popen(
            [sys.executable, "-m", "rollout_bot", "worker"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while not stack.fake.requests_to("PUT", r"/issues/\d+$"):
                assert time.monotonic() < deadline, "the worker never reached the untick"
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(10)
        stack.fake.faults.clear()  # the held write goes through
        deadline = time.monotonic() + 10
        while stack.checked(iid, ACTORS):
            assert time.monotonic() < deadline, "the held untick never landed"
            time.sleep(0.05)
        assert stack.bot_notes(iid) == []

        second = subprocess.Popen(
            [sys.executable, "-m", "rollout_bot", "worker"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            stack.wait_idle(timeout=30)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
        (note,) = stack.bot_notes(iid)
        assert UNTICKED_AGAIN in note  # the earlier run's untick, not "already unticked"
        assert not stack.checked(iid, ACTORS)
        (delivery,) = inbox.listing(stack.runtime.engine)
        assert delivery.status == inbox.DONE and delivery.attempts == 2
