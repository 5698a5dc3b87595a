"""The actor is the editor: a tick runs only when the event's user made the edit.

GitLab's Issue Hook names who caused the event (`user`) and who last edited the
description (`last_edited_by_id`). A delivery where the two disagree cannot say
whose access to check, so it runs nothing and the comment says why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from tests.bot_stack import FLAG, SECRET, BotStack, bot_stack
from tests.fake_gitlab.delivery import Delivery
from webhook.schema import inbox_deliveries

STEP = "enable-non-production-command"


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url, start_worker=False) as running:
        yield running


def ticked_delivery(stack: BotStack) -> Delivery:
    (tick,) = [
        d
        for d in stack.fake.deliveries
        if d.payload.get("object_attributes", {}).get("action") == "update"
    ]
    return tick


def post(stack: BotStack, payload: dict[str, object]) -> int:
    """A delivery as GitLab would send it, carrying a payload changed on the way."""
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
    return answer.status_code


def replace_with(stack: BotStack, genuine: Delivery, payload: dict[str, object]) -> None:
    """GitLab sent only the altered delivery: the genuine one never reaches the worker."""
    with stack.runtime.engine.begin() as conn:
        conn.execute(
            sa.delete(inbox_deliveries).where(
                inbox_deliveries.c.delivery_key == genuine.headers["Idempotency-Key"]
            )
        )
    assert post(stack, payload) == 202


def test_a_tick_reported_as_another_users_runs_nothing(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, STEP)
    genuine = ticked_delivery(stack)
    payload = genuine.payload
    assert payload["object_attributes"]["last_edited_by_id"] == stack.alice.id
    # The event claims dave (a Developer, allowed on these environments) ticked it.
    payload["user"] = {**payload["user"], "id": stack.dave.id, "username": "dave"}
    replace_with(stack, genuine, payload)
    stack.drain()

    for environment in ("dev", "staging", "staging-ref"):
        assert stack.state(environment) is None
    assert stack.runtime.store.history(FLAG) == []
    (note,) = stack.bot_notes(iid)
    assert "the event's author could not be confirmed" in note
    assert f"as from user {stack.dave.id}, but the edit's last editor is user {stack.alice.id}" in (
        note
    )
    assert not stack.checked(iid, STEP)  # unticked: the issue does not show it as done


def test_a_tick_with_no_editor_recorded_runs_nothing(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, STEP)
    genuine = ticked_delivery(stack)
    payload = genuine.payload
    payload["object_attributes"]["last_edited_by_id"] = None
    payload["changes"].pop("last_edited_by_id", None)
    replace_with(stack, genuine, payload)
    stack.drain()

    assert stack.state("dev") is None
    (note,) = stack.bot_notes(iid)
    assert "but the edit's last editor is no user" in note


def test_the_editor_from_changes_wins_over_a_stale_attribute(stack: BotStack) -> None:
    """`changes.last_edited_by_id.current` is this edit's editor when the editor changed."""
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, STEP)
    genuine = ticked_delivery(stack)
    payload = genuine.payload
    assert payload["changes"]["last_edited_by_id"]["current"] == stack.alice.id
    payload["object_attributes"]["last_edited_by_id"] = stack.dave.id
    replace_with(stack, genuine, payload)
    stack.drain()

    for environment in ("dev", "staging", "staging-ref"):
        assert stack.state(environment) is not None
    (row, *_) = stack.runtime.store.history(FLAG)
    assert (row.who, row.user_id) == ("alice", stack.alice.id)
