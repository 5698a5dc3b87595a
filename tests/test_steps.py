"""templates.steps: steps by marker, diffs between two descriptions, one-character edits."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from templates.steps import (
    Edge,
    EdgeKind,
    TaskNotFound,
    diff,
    duplicate_markers,
    set_checked,
    tasks_by_marker,
)
from templates.tasklist import TaskState, parse_tasks
from tests.fixtures.gitlab import fixture
from tests.task_documents import ANY_TEXT, FLAG, ROLLOUT_ISSUE, documents

# --- lookup by marker --------------------------------------------------------------


DUPLICATED = (
    "- [ ] <!-- step:a --> first\n"
    "- [ ] <!-- step:b --> b\n"
    "- [x] <!-- step:a --> second\n"
    "- [ ] no marker\n"
    "- [ ] <!-- step:a --> third\n"
)


def test_tasks_by_marker_keeps_the_first_of_a_duplicate() -> None:
    found = tasks_by_marker(DUPLICATED)
    assert list(found) == ["a", "b"]
    assert (found["a"].text, found["a"].line) == ("first", 0)


def test_duplicate_markers_lists_every_task_of_a_repeated_marker() -> None:
    assert {k: [t.text for t in v] for k, v in duplicate_markers(DUPLICATED).items()} == {
        "a": ["first", "second", "third"]
    }
    assert duplicate_markers("- [ ] <!-- step:a --> a\n- [ ] <!-- step:b --> b") == {}


# --- diff --------------------------------------------------------------------------


def steps(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_diff_reports_ticks_and_unticks_with_the_current_task() -> None:
    previous = steps(
        "- [ ] <!-- step:a --> a", "- [x] <!-- step:b --> b", "- [ ] <!-- step:c --> c"
    )
    current = steps("- [x] <!-- step:a --> a", "- [ ] <!-- step:b --> b", "- [ ] <!-- step:c --> c")
    now = tasks_by_marker(current)
    assert diff(previous, current) == [
        Edge("a", EdgeKind.TICKED, now["a"]),
        Edge("b", EdgeKind.UNTICKED, now["b"]),
    ]


def test_diff_ignores_unchanged_unmarked_and_removed_tasks() -> None:
    previous = steps("- [ ] no marker", "- [x] <!-- step:a --> a", "- [ ] <!-- step:gone --> g")
    current = steps("- [x] no marker", "- [X] <!-- step:a --> a, reworded")
    assert diff(previous, current) == []
    assert diff(current, current) == []


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("[~]", "[x]", EdgeKind.TICKED),
        ("[x]", "[~]", EdgeKind.UNTICKED),
        ("[ ]", "[~]", None),
        ("[~]", "[ ]", None),
        ("[x]", "[X]", None),
    ],
)
def test_inapplicable_counts_as_not_ticked(before: str, after: str, kind: EdgeKind | None) -> None:
    edges = diff(f"- {before} <!-- step:a --> a", f"- {after} <!-- step:a --> a")
    assert [edge.kind for edge in edges] == ([] if kind is None else [kind])


def test_a_marker_appearing_ticked_is_reported_apart() -> None:
    current = steps(
        "- [ ] <!-- step:a --> a", "- [x] <!-- step:new --> pasted", "- [ ] <!-- step:n --> n"
    )
    assert diff("- [ ] <!-- step:a --> a", current) == [
        Edge("new", EdgeKind.APPEARED_TICKED, tasks_by_marker(current)["new"])
    ]


def test_diff_follows_markers_not_positions_in_current_order() -> None:
    previous = steps("- [ ] <!-- step:a --> a", "- [ ] <!-- step:b --> b")
    current = steps("Intro", "", "- [x] <!-- step:b --> b", "  - [x] <!-- step:a --> a")
    edges = diff(previous, current)
    assert [(e.marker, e.kind, e.task.line, e.task.parent) for e in edges] == [
        ("b", EdgeKind.TICKED, 2, None),
        ("a", EdgeKind.TICKED, 3, 0),
    ]


def test_diff_uses_the_first_task_of_a_duplicate_marker() -> None:
    previous = steps("- [ ] <!-- step:a --> a", "- [ ] <!-- step:a --> copy")
    assert diff(previous, steps("- [ ] <!-- step:a --> a", "- [x] <!-- step:a --> copy")) == []
    (edge,) = diff(previous, steps("- [x] <!-- step:a --> a", "- [ ] <!-- step:a --> copy"))
    assert (edge.kind, edge.task.text) == (EdgeKind.TICKED, "a")


def test_a_task_ticked_inside_a_code_block_is_no_edge() -> None:
    previous = "```\n- [ ] <!-- step:a --> a\n```"
    assert diff(previous, previous.replace("[ ]", "[x]")) == []


def test_an_issue_hook_of_a_ticked_step() -> None:
    # An Issue Hook after a person ticked the non-production enable (fields as GitLab's
    # documented Issue Hook; conformance/ holds the fixture to GitLab's own example).
    payload = fixture("webhooks/issue_hook_task_ticked.json")
    change = payload["changes"]["description"]
    (edge,) = diff(change["previous"], change["current"])
    assert (edge.marker, edge.kind) == ("enable-non-production-command", EdgeKind.TICKED)
    assert edge.task.parent is not None
    assert edge.task.command == f"feature set {FLAG} true --dev --staging --staging-ref"
    after = tasks_by_marker(change["current"])
    assert after["enable-non-production-command"].checked


# --- set_checked -------------------------------------------------------------------


def test_set_checked_rewrites_one_character() -> None:
    text = "# Steps\r\n\r\n- [ ] <!-- step:a --> a\r\n  - [ ] <!-- step:b --> b"
    assert (
        set_checked(text, "b", True)
        == "# Steps\r\n\r\n- [ ] <!-- step:a --> a\r\n  - [x] <!-- step:b --> b"
    )
    assert (
        set_checked(text, "a", True)
        == "# Steps\r\n\r\n- [x] <!-- step:a --> a\r\n  - [ ] <!-- step:b --> b"
    )


@pytest.mark.parametrize("box", ["[x]", "[X]"])
def test_set_checked_unticks(box: str) -> None:
    text = f"1)\t{box} <!-- step:a --> a\n"
    assert set_checked(text, "a", False) == "1)\t[ ] <!-- step:a --> a\n"


@pytest.mark.parametrize(
    ("box", "checked"), [("[x]", True), ("[X]", True), ("[ ]", False), ("[~]", False)]
)
def test_set_checked_returns_the_text_itself_when_the_state_is_already_right(
    box: str, checked: bool
) -> None:
    text = f"- {box} <!-- step:a --> a\n"
    assert set_checked(text, "a", checked) is text


def test_set_checked_ticks_an_inapplicable_step() -> None:
    assert set_checked("- [~] <!-- step:a --> a", "a", True) == "- [x] <!-- step:a --> a"


def test_set_checked_changes_only_the_first_task_of_a_duplicate_marker() -> None:
    text = "- [ ] <!-- step:a --> a\n- [ ] <!-- step:a --> copy"
    assert set_checked(text, "a", True) == "- [x] <!-- step:a --> a\n- [ ] <!-- step:a --> copy"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "- [ ] <!-- step:b --> b",
        "```\n- [ ] <!-- step:a --> in a code block\n```",
        "- item <!-- step:a --> without a checkbox",
    ],
)
def test_set_checked_raises_task_not_found(text: str) -> None:
    with pytest.raises(TaskNotFound) as raised:
        set_checked(text, "a", True)
    assert isinstance(raised.value, KeyError)
    assert raised.value.marker_id == "a"
    assert str(raised.value) == "no task with the marker '<!-- step:a -->' in the description"


# --- a whole rollout issue ---------------------------------------------------------


def test_a_whole_rollout_issue_by_marker() -> None:
    assert duplicate_markers(ROLLOUT_ISSUE) == {}

    by_marker = tasks_by_marker(ROLLOUT_ISSUE)
    assert by_marker["breaking-changes"].state is TaskState.INAPPLICABLE
    assert [m for m, t in by_marker.items() if t.checked] == ["notify-support"]
    assert by_marker["change-management"].text == (
        "Check if the feature flag change needs to be accompanied with a"
    )
    assert by_marker["cleanup-references"].indent == 3
    assert by_marker["rollout-actors"].indent == 4


def test_a_whole_rollout_issue_ticked_unticked_and_in_crlf() -> None:
    ticked = set_checked(ROLLOUT_ISSUE, "enable-non-production-command", True)
    (edge,) = diff(ROLLOUT_ISSUE, ticked)
    assert (edge.marker, edge.kind) == ("enable-non-production-command", EdgeKind.TICKED)
    assert edge.task.command == f"feature set {FLAG} true --dev --staging --staging-ref"

    rollback = set_checked(ticked, "rollback", True)
    assert [(e.marker, e.kind) for e in diff(ticked, rollback)] == [("rollback", EdgeKind.TICKED)]
    assert set_checked(rollback, "rollback", False) == ticked

    crlf = ROLLOUT_ISSUE.replace("\n", "\r\n")
    assert parse_tasks(crlf) == parse_tasks(ROLLOUT_ISSUE)
    ticked_crlf = set_checked(crlf, "enable-non-production-command", True)
    assert ticked_crlf == ticked.replace("\n", "\r\n")
    assert set_checked(ticked_crlf, "rollback", True) == rollback.replace("\n", "\r\n")


# --- properties --------------------------------------------------------------------


@given(text=documents(), data=st.data())
def test_set_checked_round_trips_through_parse(text: str, data: st.DataObject) -> None:
    before = parse_tasks(text)
    markers = [t.marker for t in before if t.marker is not None]
    assume(markers)
    step = data.draw(st.sampled_from(markers))
    checked = data.draw(st.booleans())
    index = next(i for i, task in enumerate(before) if task.marker == step)
    old = before[index]

    changed = set_checked(text, step, checked)
    after = parse_tasks(changed)

    if checked:
        state = TaskState.CHECKED
    else:
        state = TaskState.UNCHECKED if old.checked else old.state
    assert after[index] == replace(old, state=state, raw=after[index].raw)
    assert after[:index] == before[:index]
    assert after[index + 1 :] == before[index + 1 :]
    assert len(changed) == len(text)
    differing = [i for i, (a, b) in enumerate(zip(text, changed, strict=True)) if a != b]
    assert len(differing) == (0 if old.checked == checked else 1)


@given(text=documents(), data=st.data())
def test_ticking_an_unticked_step_is_one_tick_edge(text: str, data: st.DataObject) -> None:
    unticked = [m for m, t in tasks_by_marker(text).items() if not t.checked]
    assume(unticked)
    step = data.draw(st.sampled_from(unticked))
    ticked = set_checked(text, step, True)
    assert diff(text, ticked) == [Edge(step, EdgeKind.TICKED, tasks_by_marker(ticked)[step])]
    assert [(e.marker, e.kind) for e in diff(ticked, text)] == [(step, EdgeKind.UNTICKED)]


@given(text=ANY_TEXT)
def test_any_text_diffs_to_nothing_and_edits_at_most_one_character(text: str) -> None:
    assert diff(text, text) == []
    for step in tasks_by_marker(text):
        for checked in (True, False):
            changed = set_checked(text, step, checked)
            assert len(changed) == len(text)
            assert sum(a != b for a, b in zip(text, changed, strict=True)) <= 1
