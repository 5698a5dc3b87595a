"""What a comment or step may run: only its issue's flag, and the override only by hand.

A rollout issue is a control panel anyone with edit rights can retype, so a
comment there changes only that issue's flag (reading may name anything), a
step never skips the consistency check, and the override is a production
decision stated in the comment and the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flags.definitions import own_definitions_root
from flags.state import FlagState
from gitlab_ops.schema import rollout_issues
from tests.bot_stack import FLAG, BotStack, bot_stack
from webhook.step_outcome import NOT_A_ROLLOUT_ISSUE, OTHER_FLAG, OVERRIDE_ONLY_IN_COMMENT

OTHER = "other_rollout_flag"
OVERRIDE = "--ignore-feature-flag-consistency-check"
OTHER_DEFINITION = f"""---
name: {OTHER}
description: A second flag, rolled out from its own issue.
introduced_by_url: https://gitlab.example.com/gitlab-org/gitlab/-/merge_requests/7
rollout_issue_url: https://gitlab.example.com/gitlab-org/gitlab/-/issues/8
milestone: '17.3'
type: development
group: group::analytics instrumentation
default_enabled: false
"""


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[BotStack]:
    (tmp_path / "development").mkdir()
    (tmp_path / "development" / f"{OTHER}.yml").write_text(OTHER_DEFINITION)
    with bot_stack(database_url, definitions=(own_definitions_root(), tmp_path)) as running:
        yield running


def other_state(stack: BotStack, environment: str) -> FlagState | None:
    return stack.runtime.store.snapshot().get(environment, OTHER)


def comment(stack: BotStack, iid: int, text: str, user: str = "alice") -> str:
    stack.fake.add_note_as(getattr(stack, user), stack.project, iid, text)
    stack.wait_idle()
    return stack.bot_notes(iid)[-1]


def test_a_comment_cannot_change_another_flag(stack: BotStack) -> None:
    iid = stack.open_issue()
    note = comment(stack, iid, f"/chatops run feature set {OTHER} true --dev")
    assert "was refused: " + OTHER_FLAG.format(flag=FLAG) in note
    assert other_state(stack, "dev") is None
    assert stack.runtime.store.history(OTHER) == []


def test_a_comment_cannot_change_an_undefined_flag_either(stack: BotStack) -> None:
    iid = stack.open_issue()
    note = comment(stack, iid, "/chatops run feature delete no_such_flag --dev")
    assert "was refused: " + OTHER_FLAG.format(flag=FLAG) in note


def test_a_comment_may_read_any_flag(stack: BotStack) -> None:
    iid = stack.open_issue()
    note = comment(stack, iid, f"/chatops run feature get {OTHER}")
    assert f"@alice ran `/chatops run feature get {OTHER}`" in note
    assert "| production | off (default) | off (default) | no gate set |" in note


def test_no_command_runs_on_an_issue_that_is_not_a_rollout_issue(stack: BotStack) -> None:
    plain = stack.fake.create_issue_as(stack.alice, stack.project, "A bug", description="text")
    stack.fake.add_note_as(
        stack.alice, stack.project, plain.iid, f"/chatops run feature set {FLAG} true --dev"
    )
    stack.wait_idle()
    assert stack.bot_notes(plain.iid) == []
    assert stack.state("dev") is None


def test_the_worker_checks_the_issue_again(database_url: str) -> None:
    """An issue forgotten between receipt and processing runs nothing either."""
    with bot_stack(database_url, start_worker=False) as stack:
        iid = stack.open_issue()
        stack.fake.add_note_as(
            stack.alice, stack.project, iid, f"/chatops run feature set {FLAG} true --dev"
        )
        with stack.runtime.engine.begin() as conn:
            conn.execute(sa.delete(rollout_issues))
        stack.drain()
        assert stack.state("dev") is None
        assert "was refused: " + NOT_A_ROLLOUT_ISSUE in stack.bot_notes(iid)[-1]


def test_a_step_cannot_carry_the_override(stack: BotStack) -> None:
    iid = stack.open_issue()
    line = f"feature set {FLAG} true --dev --staging --staging-ref"
    stack.edit(stack.alice, iid, f"`/chatops run {line}`", f"`/chatops run {line} {OVERRIDE}`")
    stack.wait_idle()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    note = stack.bot_notes(iid)[-1]
    assert OVERRIDE_ONLY_IN_COMMENT.split(":")[0] in note
    assert not stack.checked(iid, "enable-non-production-command")
    assert stack.state("dev") is None


def test_the_override_needs_production_access_and_is_recorded(stack: BotStack) -> None:
    iid = stack.open_issue()
    # Staging is off, so enabling dev alone is fine, but production would be refused.
    command = f"/chatops run feature set {FLAG} true --dev {OVERRIDE}"
    note = comment(stack, iid, command, user="dave")  # a Developer may change dev, not override
    assert "overriding the consistency check needs Maintainer or higher" in note
    assert stack.state("dev") is None

    note = comment(stack, iid, f"/chatops run feature set {FLAG} true {OVERRIDE}")
    assert stack.state("production") == FlagState(boolean=True)
    assert "The consistency check (staging leads production) was overridden by @alice" in note
    (row,) = stack.runtime.store.history(FLAG)
    assert row.command is not None and OVERRIDE in row.command
    assert "(consistency check overridden)" in stack.cli("feature", "history", FLAG)
