"""End to end: the rollout issue shows the flag's real state, whatever changed it.

The state note must say what `feature get --json` says after a tick, a comment
command, `feature set` and `feature delete` from a terminal, and `cleanup
finish`; terminal changes are also comments; GitLab being down loses none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from gitlab_ops import issue_updates, issues
from rollout_bot.cli import main
from rollout_bot.issue_notice import NO_GITLAB, QUEUED
from templates.state_note import STATE_NOTE_MARKER
from tests.bot_stack import DASHBOARD_AUTH, FLAG, BotStack, bot_stack


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url) as running:
        yield running


def expected_rows(card: dict[str, Any]) -> list[str]:
    """The note's table rows as `feature get --json` describes each environment."""
    rows = []
    for environment, data in card["environments"].items():
        gates = data["gates"]
        parts = []
        if gates["boolean"]:
            parts.append("on")
        else:
            if gates["percentage_of_actors"]:
                parts.append(f"{gates['percentage_of_actors']}% of actors")
            if gates["percentage_of_time"]:
                parts.append(f"{gates['percentage_of_time']}% of time")
            if gates["actors"]:
                parts.append("actors on: " + ", ".join(gates["actors"]))
            if gates["groups"]:
                parts.append("feature groups on: " + ", ".join(gates["groups"]))
        phrase = "; ".join(parts) or "off"
        rows.append(f"| {environment} | {phrase}{' (default)' if data['default'] else ''} |")
    return rows


def table_rows(note: str) -> list[str]:
    lines = [line for line in note.splitlines() if line.startswith("| ")]
    return lines[1:]  # without the header row


def assert_note_matches_feature_get(stack: BotStack, iid: int) -> str:
    stack.wait_updates()
    (note,) = stack.state_notes(iid)
    card = json.loads(stack.cli("feature", "get", FLAG, "--json"))
    assert table_rows(note) == expected_rows(card)
    return note


def issue_url(stack: BotStack) -> str:
    located = issues.find_by_flag(stack.runtime.engine, FLAG)
    assert located is not None
    return located[2]


def note_ids(stack: BotStack, iid: int) -> list[int]:
    issue = stack.fake.issue(stack.project, iid)
    return [n.id for n in issue.notes if STATE_NOTE_MARKER in n.body]


def test_the_note_follows_every_source_of_change_in_one_note(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    note = assert_note_matches_feature_get(stack, iid)
    assert "| staging | on |" in note and "| production | off (default) |" in note
    (first_id,) = note_ids(stack, iid)

    stack.fake.add_note_as(
        stack.alice, stack.project, iid, f"/chatops run feature set {FLAG} 12.5 --actors"
    )
    note = assert_note_matches_feature_get(stack, iid)
    assert "| production | 12.5% of actors |" in note

    stack.cli("feature", "set", f"--group={stack.fake.state.group('gitlab-org').id}", FLAG, "true")
    note = assert_note_matches_feature_get(stack, iid)
    assert "actors on: Group:" in note
    terminal = stack.bot_notes(iid)[-1]
    who = stack.runtime.settings.user
    assert f"**{who}** changed `{FLAG}` from a terminal" in terminal
    assert "| production | 12.5% of actors | 12.5% of actors; actors on: Group:" in terminal

    stack.cli("feature", "delete", FLAG, "--production")
    note = assert_note_matches_feature_get(stack, iid)
    assert "| production | off (default) |" in note
    assert "| production | 12.5% of actors; actors on: Group:" in stack.bot_notes(iid)[-1]
    assert "| off (default) |" in stack.bot_notes(iid)[-1]

    stack.cli("cleanup", "finish", FLAG)
    note = assert_note_matches_feature_get(stack, iid)
    assert all(f"| {env} | off (default) |" in note for env in ("dev", "staging", "production"))
    assert note_ids(stack, iid) == [first_id]  # one note, edited in place
    edits = stack.fake.requests_to("PUT", rf"/issues/{iid}/notes/{first_id}$")
    assert len(edits) == 4


def test_a_change_from_a_terminal_while_gitlab_is_down_reaches_the_issue(database_url: str) -> None:
    with bot_stack(database_url, start_worker=False) as stack:
        iid = stack.open_issue()
        stack.fake.fail_next(1000, 503)
        result = CliRunner(env=stack.env).invoke(
            main, ["feature", "set", FLAG, "true", "--dev"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        url = issue_url(stack)
        assert result.stderr == QUEUED.format(url=url) + "\n"
        assert stack.bot_notes(iid) == [] and stack.state_notes(iid) == []
        queued = issue_updates.listing(stack.runtime.engine, [issue_updates.PENDING])
        assert [u.kind for u in queued] == [issue_updates.COMMENT, issue_updates.STATE_NOTE]

        stack.fake.faults.clear()
        worker = stack.worker_for_test()
        worker.start()
        try:
            note = assert_note_matches_feature_get(stack, iid)
        finally:
            worker.stop()
        assert "| dev | on |" in note
        (comment,) = stack.bot_notes(iid)
        assert "| dev | off (default) | on |" in comment


def test_updates_stop_at_the_attempt_bound_and_show_on_metrics(database_url: str) -> None:
    with bot_stack(database_url, max_attempts=3) as stack:
        iid = stack.open_issue()
        stack.fake.fail_next(1000, 503, path=r"/notes")
        stack.cli("feature", "set", FLAG, "true", "--dev")
        stack.wait_updates(timeout=60)
        failed = issue_updates.listing(stack.runtime.engine, [issue_updates.FAILED])
        assert [(u.kind, u.attempts) for u in failed] == [
            (issue_updates.COMMENT, 3),
            (issue_updates.STATE_NOTE, 3),
        ]
        assert all("GitLab answered 503" in (u.last_error or "") for u in failed)
        assert stack.bot_notes(iid) == [] and stack.state_notes(iid) == []
        metrics = requests.get(
            f"{stack.servers[0].url}/metrics", headers=DASHBOARD_AUTH, timeout=10
        ).text
        assert 'rollout_bot_issue_updates{status="failed"} 2.0' in metrics
        assert 'rollout_bot_issue_updates{status="pending"} 0.0' in metrics


def test_a_deleted_note_comes_back_and_a_quoting_comment_is_left_alone(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.cli("feature", "set", FLAG, "true", "--dev")
    assert_note_matches_feature_get(stack, iid)
    issue = stack.fake.issue(stack.project, iid)
    with stack.fake.state.lock:  # a person deletes the note
        issue.notes[:] = [n for n in issue.notes if STATE_NOTE_MARKER not in n.body]
    quote = f"I copied this: {STATE_NOTE_MARKER} off"
    stack.fake.add_note_as(stack.dave, stack.project, iid, quote)

    stack.cli("feature", "set", FLAG, "true", "--staging")
    note = assert_note_matches_feature_get(stack, iid)
    assert "| staging | on |" in note
    assert [n.body for n in issue.notes if n.author_id == stack.dave.id] == [quote]


def test_without_a_gitlab_url_nothing_is_queued_and_the_cli_says_so_once(
    stack: BotStack,
) -> None:
    iid = stack.open_issue()
    env = {**stack.env, "ROLLOUT_BOT_GITLAB_URL": ""}
    result = CliRunner(env=env).invoke(
        main, ["feature", "set", FLAG, "true", "--dev", "--staging"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    url = issue_url(stack)
    assert result.stderr == NO_GITLAB.format(url=url) + "\n"
    assert issue_updates.listing(stack.runtime.engine) == []
    assert stack.state_notes(iid) == []


def test_a_refused_tick_changes_nothing_and_queues_nothing(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-production-command")  # staging is off: refused
    stack.wait_updates()
    assert issue_updates.listing(stack.runtime.engine) == []
    assert stack.state_notes(iid) == []
