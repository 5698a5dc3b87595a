"""A marker means one step: a step line pasted again runs nothing, and the bot says where.

Through the bot and the fake GitLab: a person pastes a copy of a step line (its
hidden marker with it), ticked or not, inside a collapsed ``<details>`` or at the
end, and ticks the genuine step. Nothing of that step runs, one comment per delivery
names the step and the lines of its copies, and no box is flipped; other steps
ticked in the same edit still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flags.definitions import own_definitions_root
from flags.state import FlagState
from templates.tasklist import locate_tasks, parse_tasks
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.fake_gitlab.models import User

OTHER = "other_rollout_flag"
OTHER_DEFINITION = f"""---
name: {OTHER}
description: A second flag the pasted copy would switch.
introduced_by_url: https://gitlab.example.com/gitlab-org/gitlab/-/merge_requests/7
rollout_issue_url: https://gitlab.example.com/gitlab-org/gitlab/-/issues/8
milestone: '17.3'
type: development
group: group::analytics instrumentation
default_enabled: false
"""
NON_PRODUCTION = "enable-non-production-command"
PRODUCTION = "enable-production-command"
ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[BotStack]:
    (tmp_path / "development").mkdir()
    (tmp_path / "development" / f"{OTHER}.yml").write_text(OTHER_DEFINITION)
    definitions = (own_definitions_root(), tmp_path)
    with bot_stack(database_url, start_worker=False, definitions=definitions) as running:
        yield running


def step_line(stack: BotStack, iid: int, step: str) -> str:
    (task,) = [t for t in parse_tasks(stack.description(iid)) if t.marker == step]
    return task.raw


def lines_of(description: str, text: str) -> list[int]:
    """1-based numbers of the lines holding `text`, counted without the parser."""
    return [n for n, line in enumerate(description.split("\n"), start=1) if text in line]


def set_description(stack: BotStack, user: User, iid: int, description: str) -> None:
    stack.fake.edit_issue_as(user, stack.project, iid, description=description)


def tick_line(description: str, number: int) -> str:
    """Tick the task on 1-based line `number`, as a click on that checkbox does."""
    for task, offset in locate_tasks(description):
        if task.line + 1 == number:
            return description[:offset] + "x" + description[offset + 1 :]
    raise AssertionError(f"no task on line {number}")


def boxes(stack: BotStack, iid: int, step: str) -> list[bool]:
    return [t.checked for t in parse_tasks(stack.description(iid)) if t.marker == step]


def nothing_changed(stack: BotStack) -> None:
    snapshot = stack.runtime.store.snapshot()
    for flag in (FLAG, OTHER):
        assert [snapshot.get(env, flag) for env in ENVIRONMENTS] == [None] * 4
    assert stack.runtime.store.history() == []


def details(copy: str, *, blank_lines: bool) -> str:
    gap = "\n" if blank_lines else ""
    return f"\n<details>\n<summary>Notes</summary>\n{gap}{copy}\n{gap}</details>\n"


def test_a_ticked_copy_in_details_with_another_command_never_runs(stack: BotStack) -> None:
    """The reported attack: the hidden copy's command ran when the genuine step was ticked."""
    iid = stack.open_issue()
    genuine = step_line(stack, iid, NON_PRODUCTION)
    copy = genuine.strip().replace("[ ]", "[x]").replace(FLAG, OTHER)
    set_description(
        stack, stack.dave, iid, stack.description(iid) + details(copy, blank_lines=True)
    )
    stack.drain()
    description = stack.description(iid)
    numbers = lines_of(description, f"<!-- step:{NON_PRODUCTION} -->")
    assert len(numbers) == 2
    (pasted,) = stack.bot_notes(iid)  # pasting a ticked copy is itself reported
    assert f"changed a box of step `{NON_PRODUCTION}`" in pasted
    assert f"2 tasks carry this step's hidden marker (lines {numbers[0]}, {numbers[1]})" in pasted

    set_description(stack, stack.alice, iid, tick_line(description, numbers[0]))
    stack.drain()

    nothing_changed(stack)
    first, second = stack.bot_notes(iid)
    assert f"lines {numbers[0]}, {numbers[1]}" in second
    assert "nothing was run and no box was changed" in second
    assert boxes(stack, iid, NON_PRODUCTION) == [True, True]  # as the people left them


def test_a_copy_in_details_without_a_blank_line_is_harmless(stack: BotStack) -> None:
    """GitLab renders no checkbox inside a raw HTML block, and neither do we."""
    iid = stack.open_issue()
    genuine = step_line(stack, iid, NON_PRODUCTION)
    copy = genuine.strip().replace("[ ]", "[x]").replace(FLAG, OTHER)
    set_description(
        stack, stack.dave, iid, stack.description(iid) + details(copy, blank_lines=False)
    )
    stack.tick(stack.dave, iid, NON_PRODUCTION)
    stack.drain()

    for environment in ("dev", "staging", "staging-ref"):
        assert stack.state(environment) == FlagState(boolean=True)
    assert stack.runtime.store.snapshot().get("dev", OTHER) is None
    (note,) = stack.bot_notes(iid)
    assert f"ran `/chatops run feature set {FLAG} true --dev --staging --staging-ref`" in note


def test_an_unticked_copy_at_the_end_blocks_the_step_and_other_ticks_still_run(
    stack: BotStack,
) -> None:
    """The genuine tick is neither run nor reported "skipped"; the same edit's other tick runs."""
    iid = stack.open_issue()
    copy = step_line(stack, iid, PRODUCTION).strip()
    set_description(stack, stack.alice, iid, stack.description(iid) + "\n" + copy + "\n")
    stack.drain()
    assert stack.bot_notes(iid) == []  # an unticked copy changes no box: nothing to say yet

    description = stack.description(iid)
    numbers = lines_of(description, f"<!-- step:{PRODUCTION} -->")
    both = tick_line(description, numbers[0])
    both = tick_line(both, lines_of(both, f"<!-- step:{NON_PRODUCTION} -->")[0])
    set_description(stack, stack.alice, iid, both)
    stack.drain()

    for environment in ("dev", "staging", "staging-ref"):
        assert stack.state(environment) == FlagState(boolean=True)
    assert stack.state("production") is None
    assert {r.environment for r in stack.runtime.store.history(FLAG)} == {
        "dev",
        "staging",
        "staging-ref",
    }
    (note,) = stack.bot_notes(iid)
    assert f"ran `/chatops run feature set {FLAG} true --dev --staging --staging-ref`" in note
    assert f"changed a box of step `{PRODUCTION}`, but 2 tasks carry" in note
    assert f"(lines {numbers[0]}, {numbers[1]})" in note
    assert "skipped" not in note and "unticked" not in note
    assert boxes(stack, iid, PRODUCTION) == [True, False]


def test_a_copy_pasted_before_the_bot_reads_the_issue_stops_the_tick(stack: BotStack) -> None:
    """The edit showed one task, the issue now shows two: the issue as it is now decides."""
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, NON_PRODUCTION)
    copy = step_line(stack, iid, NON_PRODUCTION).strip().replace(FLAG, OTHER)
    set_description(stack, stack.alice, iid, stack.description(iid) + "\n" + copy + "\n")
    stack.drain()

    nothing_changed(stack)
    numbers = lines_of(stack.description(iid), f"<!-- step:{NON_PRODUCTION} -->")
    tick_note, paste_note = stack.bot_notes(iid)
    for note in (tick_note, paste_note):
        assert f"2 tasks carry this step's hidden marker (lines {numbers[0]}, {numbers[1]})" in note
    assert boxes(stack, iid, NON_PRODUCTION) == [True, True]
