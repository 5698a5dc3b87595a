"""templates.tasklist: where GitLab renders checkboxes, diffs by marker, one-character edits."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from templates.tasklist import (
    COMMAND_PREFIX,
    STEP_ID,
    STEP_MARKER,
    Edge,
    EdgeKind,
    Task,
    TaskNotFound,
    TaskState,
    diff,
    duplicate_markers,
    marker,
    parse_tasks,
    set_checked,
    tasks_by_marker,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLAG = "product_intelligence_database_event_tracking"


def texts(text: str) -> list[str]:
    return [task.text for task in parse_tasks(text)]


# --- markers -----------------------------------------------------------------------


def test_marker_renders_the_hidden_comment_the_regex_reads_back() -> None:
    assert marker("enable-non-production") == "<!-- step:enable-non-production -->"
    found = STEP_MARKER.fullmatch(marker("rollback-2"))
    assert found is not None
    assert found.group("id") == "rollback-2"


@pytest.mark.parametrize("step_id", ["", "-a", "A", "a_b", "a b", "a:b", "é"])
def test_marker_refuses_ids_outside_the_format(step_id: str) -> None:
    assert STEP_ID.fullmatch(step_id) is None
    with pytest.raises(ValueError, match="invalid step id"):
        marker(step_id)


@pytest.mark.parametrize(
    "line",
    [
        "- [ ] text <!-- step:a -->",  # not right after the checkbox
        "- [ ] <!-- step:A --> text",
        "- [ ] <!--step:a--> text",
        "- [ ] <!-- step:-a --> text",
        "- [ ] <!-- stop:a --> text",
    ],
)
def test_only_a_well_formed_marker_right_after_the_checkbox_names_a_step(line: str) -> None:
    (task,) = parse_tasks(line)
    assert task.marker is None
    assert "<!--" in task.text


def test_text_is_what_follows_the_marker() -> None:
    (glued,) = parse_tasks("- [ ] <!-- step:a -->Enable it  ")
    assert (glued.marker, glued.text) == ("a", "Enable it")
    (bare,) = parse_tasks("- [x]\t<!-- step:b -->")
    assert (bare.marker, bare.text) == ("b", "")


# --- what is a task ----------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["- [ ] a", "* [ ] a", "+ [ ] a", "1. [ ] a", "1) [ ] a", "123456789. [ ] a"]
)
def test_every_list_marker_makes_a_task(line: str) -> None:
    assert texts(line) == ["a"]


@pytest.mark.parametrize(
    ("box", "state", "checked"),
    [
        ("[ ]", TaskState.UNCHECKED, False),
        ("[x]", TaskState.CHECKED, True),
        ("[X]", TaskState.CHECKED, True),
        ("[~]", TaskState.INAPPLICABLE, False),
    ],
)
def test_checkbox_states(box: str, state: TaskState, checked: bool) -> None:
    (task,) = parse_tasks(f"- {box} a")
    assert task.state is state
    assert task.checked is checked


@pytest.mark.parametrize("line", ["- [ ]", "- [x]", "- [ ]   ", "- [~]\ta", "-\t[ ] a", "-  [ ] a"])
def test_a_checkbox_followed_by_whitespace_or_the_line_end_is_a_task(line: str) -> None:
    assert len(parse_tasks(line)) == 1


@pytest.mark.parametrize(
    "line",
    [
        "[ ] a",  # not in a list
        "-[ ] a",  # no space after the list marker
        "a - [ ] b",
        "- [ ]a",  # no whitespace after the checkbox
        "- [x]a",
        "- [  ] a",
        "- [-] a",
        "- [*] a",
        "- [y] a",
        "- ( ) a",
        "- a [ ] b",
        "1234567890. [ ] a",  # ten digits is no ordered list marker
        "a. [ ] a",
        "-     [ ] a",  # five spaces: indented code inside the item
        "    - [ ] a",  # indented code
        "# - [ ] a",
        "> - [ ] a",  # block quotes are not scanned (documented limit)
    ],
)
def test_lines_that_are_not_tasks(line: str) -> None:
    assert parse_tasks(line) == []


def test_task_fields() -> None:
    text = (
        "Intro\n\n- [ ] <!-- step:a --> Enable `x`\n"
        "  1. [x] <!-- step:b --> `/chatops run feature get f`\n"
    )
    assert parse_tasks(text) == [
        Task(
            line=2,
            raw="- [ ] <!-- step:a --> Enable `x`",
            indent=0,
            state=TaskState.UNCHECKED,
            marker="a",
            text="Enable `x`",
            parent=None,
            command_line=None,
        ),
        Task(
            line=3,
            raw="  1. [x] <!-- step:b --> `/chatops run feature get f`",
            indent=2,
            state=TaskState.CHECKED,
            marker="b",
            text="`/chatops run feature get f`",
            parent=0,
            command_line="/chatops run feature get f",
        ),
    ]


def test_tasks_are_frozen() -> None:
    (task,) = parse_tasks("- [ ] a")
    with pytest.raises(AttributeError):
        task.text = "b"  # type: ignore[misc]


# --- nesting -----------------------------------------------------------------------


def test_nesting_by_indentation() -> None:
    text = "\n".join(
        [
            "- [ ] a",
            "  - [ ] b",
            "    - [ ] c",
            "  - [ ] d",
            "- [ ] e",
            "    - [ ] f",  # four spaces under a two-column item: still its child
            "\t- [ ] g",  # a tab is four columns
        ]
    )
    tasks = parse_tasks(text)
    assert [t.text for t in tasks] == list("abcdefg")
    assert [t.parent for t in tasks] == [None, 0, 1, 0, None, 4, 4]
    assert [t.indent for t in tasks] == [0, 2, 4, 2, 0, 4, 4]


def test_the_parent_is_the_nearest_enclosing_task() -> None:
    tasks = parse_tasks("- [ ] a\n  - plain item\n    - [ ] b\n- plain\n  - [ ] c")
    assert [(t.text, t.parent) for t in tasks] == [("a", None), ("b", 0), ("c", None)]


def test_ordered_lists_nest_at_their_content_column() -> None:
    tasks = parse_tasks("1. [ ] a\n   1. [ ] b\n  - [ ] c\n2) [ ] d\n   * [ ] e")
    # "  - [ ] c" is indented less than a's text (column 3): a new list, not a child.
    assert [(t.text, t.parent) for t in tasks] == [
        ("a", None),
        ("b", 0),
        ("c", None),
        ("d", None),
        ("e", 3),
    ]


def test_several_list_markers_on_one_line() -> None:
    tasks = parse_tasks("- - [ ] a\n- [ ] b\n  - 1. [ ] c")
    assert [(t.text, t.indent, t.parent) for t in tasks] == [
        ("a", 2, None),
        ("b", 0, None),
        ("c", 4, 1),
    ]


def test_blank_lines_keep_items_open_and_dedent_closes_them() -> None:
    tasks = parse_tasks("- [ ] a\n\n  - [ ] b\n\n\n    - [ ] c\n\n- [ ] d")
    assert [t.parent for t in tasks] == [None, 0, 1, None]


def test_a_lazy_continuation_line_keeps_the_item_open() -> None:
    tasks = parse_tasks("- [ ] a\nlazy text of a\n  - [ ] b")
    assert [(t.text, t.parent) for t in tasks] == [("a", None), ("b", 0)]


def test_an_item_starts_with_at_most_one_blank_line() -> None:
    tasks = parse_tasks("-\n\n  - [ ] a")
    # The empty item ended at the blank line; the task stands alone.
    assert [(t.text, t.parent) for t in tasks] == [("a", None)]


def test_paragraph_interruption_rules() -> None:
    assert texts("text\n- [ ] a") == ["a"]
    assert texts("text\n1. [ ] a") == ["a"]
    assert texts("text\n2. [ ] a") == []  # only an ordered list starting at 1 interrupts
    assert texts("- [ ] a\n  2. [ ] b") == ["a"]  # b continues a's paragraph
    assert texts("- [ ] a\n2. [ ] b") == ["a", "b"]  # a new list, not an interruption
    assert texts("# Heading\n2. [ ] a") == ["a"]
    assert texts("    code\n2. [ ] a") == ["a"]


def test_a_checkbox_line_underlined_as_a_heading_is_no_task() -> None:
    # GFM: a task item's first block is a paragraph; a setext underline makes it a heading.
    tasks = parse_tasks("- [ ] a\n  - [ ] b\n    ---\n  - [ ] c\n    - [ ] d")
    assert [(t.text, t.parent) for t in tasks] == [("a", None), ("c", 0), ("d", 1)]
    assert texts("- [ ] a\nlazy\n  ===") == []
    # A later paragraph of the item may be a heading: the task stays.
    assert texts("- [ ] a\n\n  b\n  ---") == ["a"]
    # Unindented, "---" is a thematic break after the list.
    assert texts("- [ ] a\n---") == ["a"]


def test_indented_code_outside_lists() -> None:
    assert texts("    - [ ] code") == []
    assert texts("text\n\n    - [ ] code\n\n- [ ] a") == ["a"]
    assert texts("text\n    - [ ] continues the paragraph") == []
    # Inside a list the same indentation nests.
    assert texts("- [ ] a\n\n    - [ ] b") == ["a", "b"]


# --- line endings ------------------------------------------------------------------


def test_crlf_lf_mixed_and_lone_cr_line_endings() -> None:
    for text in ["- [ ] a\r\n\r\n- [x] b\r\n", "- [ ] a\n\r\n- [x] b", "- [ ] a\r\r- [x] b\r"]:
        tasks = parse_tasks(text)
        assert [(t.line, t.raw, t.checked) for t in tasks] == [
            (0, "- [ ] a", False),
            (2, "- [x] b", True),
        ]


def test_a_fence_closes_on_a_crlf_line() -> None:
    assert texts("```\r\n- [ ] a\r\n```\r\n- [ ] b\r\n") == ["b"]


# --- fenced code -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "```\n- [ ] no\n```\n- [ ] b",
        "~~~\n- [ ] no\n~~~\n- [ ] b",
        "```python\n- [ ] no\n```\n- [ ] b",
        "````\n```\n- [ ] no\n````\n- [ ] b",  # a shorter fence does not close
        "~~~~\n~~~\n- [ ] no\n~~~~~\n- [ ] b",  # a longer one does
        "```\n~~~\n- [ ] no\n```\n- [ ] b",  # the other character does not
        "```\n``` info\n- [ ] no\n```\n- [ ] b",  # a closing fence carries no info string
        "```\n- [ ] no\n```   \n- [ ] b",  # trailing spaces are fine
        "   ```\n- [ ] no\n   ```\n- [ ] b",  # up to three spaces of indentation
        "```\n- [ ] no\n    ```\n- [ ] no\n```\n- [ ] b",  # four spaces do not close
        "text\n```\n- [ ] no\n```\n- [ ] b",  # a fence interrupts a paragraph
    ],
)
def test_nothing_inside_a_fence_is_a_task(text: str) -> None:
    assert texts(text) == ["b"]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert texts("- [ ] a\n\n```\n- [ ] no\n- [ ] no") == ["a"]


@pytest.mark.parametrize("text", ["``\n- [ ] a", "``` x`y\n- [ ] a", "    ```\n- [ ] a"])
def test_lines_that_only_look_like_fences(text: str) -> None:
    assert texts(text) == ["a"]


def test_a_fence_inside_a_list_item() -> None:
    text = "- [ ] a\n  ```\n  - [ ] no\n\n  ```\n  - [ ] b\n"
    assert [(t.text, t.parent) for t in parse_tasks(text)] == [("a", None), ("b", 0)]


def test_a_fence_in_a_list_item_ends_with_the_item() -> None:
    # CommonMark: the unindented line ends the item, and the code block with it.
    text = "- [ ] a\n  ```\n  code\n- [ ] b\n  ```\n  - [ ] no\n- [ ] c"
    assert texts(text) == ["a", "b", "c"]


# --- HTML --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<!--\n- [ ] no\n-->\n- [ ] b",
        "  <!-- note\n- [ ] no\n\n- [ ] no\n  end -->\n- [ ] b",
        "text\n<!--\n- [ ] no\n-->\n- [ ] b",  # a comment interrupts a paragraph
        "<details>\n- [ ] no\n</details>\n\n- [ ] b",  # ends at a blank line
        "<pre>\n- [ ] no\n\n- [ ] no\n</pre>\n- [ ] b",
        "<span>\n- [ ] no\n\n- [ ] b",
    ],
)
def test_nothing_inside_an_html_block_is_a_task(text: str) -> None:
    assert texts(text) == ["b"]


def test_html_blocks_that_leave_tasks_alone() -> None:
    assert texts("<!-- one line -->\n- [ ] a") == ["a"]
    assert texts("<details><summary>More</summary>\n\n- [ ] a\n\n</details>") == ["a"]
    # A lone tag cannot interrupt a paragraph, so the list item after it still does.
    assert texts("text\n<span>\n- [ ] a") == ["a"]


def test_a_comment_starting_mid_line_hides_nothing() -> None:
    # Inline HTML: GitLab parses the next line as blocks first, so it is a task.
    assert texts("text <!-- begins\n- [ ] a -->\n- [ ] b") == ["a -->", "b"]


def test_a_comment_inside_a_list_item() -> None:
    text = "- [ ] a\n  <!--\n  - [ ] no\n  -->\n  - [ ] b"
    assert [(t.text, t.parent) for t in parse_tasks(text)] == [("a", None), ("b", 0)]


# --- GitLab specifics --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "---\ntitle: x\n- [ ] no\n---\n- [ ] b",
        "\n\n---yaml\n- [ ] no\n...\n- [ ] b",
        "+++\n- [ ] no\n+++\n- [ ] b",
        ";;;\n- [ ] no\n;;;\n- [ ] b",
    ],
)
def test_front_matter_holds_no_tasks(text: str) -> None:
    assert texts(text) == ["b"]


@pytest.mark.parametrize("text", ["---\n- [ ] b", "text\n---\n- [ ] b\n---", " ---\n- [ ] b\n---"])
def test_only_closed_front_matter_at_the_top_counts(text: str) -> None:
    assert texts(text) == ["b"]


def test_block_quote_lines_are_skipped_but_end_at_the_next_block() -> None:
    assert texts("> quote\n> - [ ] no\n- [ ] b") == ["b"]


# --- commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command_line"),
    [
        ("- [ ] `/chatops run feature get f`", "/chatops run feature get f"),
        ("- [ ] run `ls` or `/chatops run a` or `/chatops run b`", "/chatops run a"),
        ("- [ ] `` /chatops run a `b` ``", "/chatops run a `b`"),
        ("- [ ] \\`/chatops run no\\` then `/chatops run yes`", "/chatops run yes"),
        (
            "- [ ] <!-- step:s --> `/chatops run feature set f true --dev`",
            "/chatops run feature set f true --dev",
        ),
        ("- [ ] `/chatops run a", None),  # unclosed
        ("- [ ] `/chatops run`", None),
        ("- [ ] `/chatops runner x`", None),
        ("- [ ] /chatops run feature get f", None),  # not in a code span
    ],
)
def test_the_command_is_the_first_chatops_code_span(line: str, command_line: str | None) -> None:
    (task,) = parse_tasks(line)
    assert task.command_line == command_line
    expected = None if command_line is None else command_line.removeprefix(COMMAND_PREFIX)
    assert task.command == expected


def test_the_command_of_an_item_with_a_fenced_block() -> None:
    text = (
        "- [ ] <!-- step:rollback --> Disable it with:\n"
        "\n"
        "  ```shell\n"
        "  # as a ChatOps user\n"
        "  /chatops run feature set my_flag false\n"
        "  /chatops run feature delete my_flag\n"
        "  ```\n"
    )
    (task,) = parse_tasks(text)
    assert task.command_line == "/chatops run feature set my_flag false"
    assert task.command == "feature set my_flag false"


def test_an_inline_command_wins_over_a_fenced_one() -> None:
    text = "- [ ] `/chatops run a`\n  ```\n  /chatops run b\n  ```"
    assert parse_tasks(text)[0].command == "a"


def test_only_a_fence_directly_in_the_task_item_gives_its_command() -> None:
    nested = "- [ ] a\n  - note\n    ```\n    /chatops run x\n    ```"
    assert parse_tasks(nested)[0].command is None
    outside = "- [ ] a\n\n```\n/chatops run x\n```"
    assert parse_tasks(outside)[0].command is None
    after_child = "- [ ] a\n  - [ ] b\n  ```\n  /chatops run x\n  ```"
    assert [t.command for t in parse_tasks(after_child)] == ["x", None]


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


def test_gitlab_issue_hook_payload_of_a_ticked_task() -> None:
    payload = json.loads(
        (SHARED_DATA / "gitlab" / "webhooks" / "issue_hook_task_ticked.json").read_text()
    )
    change = payload["changes"]["description"]
    before, after = parse_tasks(change["previous"]), parse_tasks(change["current"])
    assert [t.checked for t in before] == [False, False]
    assert [t.checked for t in after] == [False, True]
    assert after[1].parent == 0
    assert after[1].command == "feature set my_flag true --dev --staging --staging-ref"
    # Its template predates step markers, so no step is known to have changed.
    assert diff(change["previous"], change["current"]) == []


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

ROLLOUT_ISSUE = f"""\
<!-- Title suggestion: [Feature flag] Rollout of `{FLAG}` -->
<!--
Rendered by rollout-bot. Tick a step to run its command, e.g.
- [ ] <!-- step:example --> `/chatops run feature get {FLAG}`
-->

## Summary

This issue is to rollout Snowplow tracking to `group_stages` table on production,
that is currently behind the `{FLAG}` feature flag.

## Owners

- Team: ~"group::product intelligence"
- Most appropriate slack channel to reach out to: `#g_product_intelligence`
- Best individual to reach out to: @nbelokolodov
- PM: @alinamihaila

## Rollout Steps

### Rollout on non-production environments

- [ ] <!-- step:non-production-deployed --> Ensure that the feature MRs have been deployed to non-production environments.
    - [ ] <!-- step:non-production-deployed-command --> `/chatops run auto_deploy status a6ddfcf7`
- [ ] <!-- step:enable-non-production --> Enable the feature globally on non-production environments.
    - [ ] <!-- step:enable-non-production-command --> `/chatops run feature set {FLAG} true --dev --staging --staging-ref`
- [ ] <!-- step:verify-non-production --> Verify that the feature works as expected.
  The best environment to validate the feature in is [staging-canary](https://about.gitlab.com/handbook/)
  as this is the first environment deployed to.

### Specific rollout on production

- [ ] <!-- step:production-deployed --> Ensure that the feature MRs have been deployed to both production and canary.
    - [ ] <!-- step:production-deployed-command --> `/chatops run auto_deploy status a6ddfcf7`
- [ ] <!-- step:enable-projects --> If you're using project-actor, you must enable the feature on these entries:
    - [ ] <!-- step:enable-projects-command --> `/chatops run feature set --project=gitlab-org/gitlab,gitlab-org/gitlab-foss {FLAG} true`
- [ ] <!-- step:enable-groups --> If you're using group-actor, you must enable the feature on these entries:
    - [ ] <!-- step:enable-groups-command --> `/chatops run feature set --group=gitlab-org,gitlab-com {FLAG} true`
- [ ] <!-- step:verify-specific --> Verify that the feature works on the specific entries.

### Preparation before global rollout

- [ ] <!-- step:change-management --> Check if the feature flag change needs to be accompanied with a
  [change management issue](https://about.gitlab.com/handbook/engineering/infrastructure/change-management/).
- [ ] <!-- step:available --> Ensure that you can be available for at least 2 hours after feature flag updates in production.
- [~] <!-- step:breaking-changes --> Ensure that any breaking changes have been announced.
- [x] <!-- step:notify-support --> Notify `#support_gitlab-com` and your team channel.

### Global rollout on production

For visibility, all `/chatops` commands that target production should be executed in `#production`.

- [ ] <!-- step:incremental --> Incrementally roll out the feature.
  - If the feature flag in code has an actor, perform actor-based rollout.
    - [ ] <!-- step:rollout-actors --> `/chatops run feature set {FLAG} <rollout-percentage> --actors`
  - If the feature flag in code does **NOT** have an actor, perform time-based rollout.
    - [ ] <!-- step:rollout-random --> `/chatops run feature set {FLAG} <rollout-percentage> --random`
  - Enable the feature globally on production environment.
    - [ ] <!-- step:enable-production --> `/chatops run feature set {FLAG} true`
- [ ] <!-- step:announce-enabled --> Announce on the feature issue that the feature has been globally enabled.
- [ ] <!-- step:wait --> Wait for at least one day for the verification term.

### Release the feature

1. [ ] <!-- step:cleanup-mr --> Create a merge request to remove `{FLAG}` feature flag.
   1. [ ] <!-- step:cleanup-references --> Remove all references to the feature flag from the codebase.
   2. [ ] <!-- step:cleanup-definition --> Remove the YAML definitions for the feature from the repository.
   3. [ ] <!-- step:cleanup-changelog --> Create a changelog entry.
2. [ ] <!-- step:cleanup-released --> Ensure that the cleanup MR has been included in the release package.
   * [ ] <!-- step:cleanup-released-command --> `/chatops run release check <merge-request-url> <milestone>`
3. [ ] <!-- step:cleanup-delete --> If not already done, clean up the feature flag from all environments:
   * [ ] <!-- step:cleanup-delete-command --> `/chatops run feature delete {FLAG} --dev --staging --staging-ref --production`
4. [ ] <!-- step:close --> Close this rollout issue.

## Rollback Steps

- [ ] <!-- step:rollback --> This feature can be disabled by running the following Chatops command:

  ```
  - [ ] <!-- step:in-fence --> this line is inside the fence and is not a task
  /chatops run feature set {FLAG} false
  ```

/label ~"feature flag"
"""  # noqa: E501 (an issue's lines are as long as its authors write them)

# (marker, parent marker, command without the prefix)
EXPECTED_STEPS = [
    ("non-production-deployed", None, None),
    ("non-production-deployed-command", "non-production-deployed", "auto_deploy status a6ddfcf7"),
    ("enable-non-production", None, None),
    (
        "enable-non-production-command",
        "enable-non-production",
        f"feature set {FLAG} true --dev --staging --staging-ref",
    ),
    ("verify-non-production", None, None),
    ("production-deployed", None, None),
    ("production-deployed-command", "production-deployed", "auto_deploy status a6ddfcf7"),
    ("enable-projects", None, None),
    (
        "enable-projects-command",
        "enable-projects",
        f"feature set --project=gitlab-org/gitlab,gitlab-org/gitlab-foss {FLAG} true",
    ),
    ("enable-groups", None, None),
    (
        "enable-groups-command",
        "enable-groups",
        f"feature set --group=gitlab-org,gitlab-com {FLAG} true",
    ),
    ("verify-specific", None, None),
    ("change-management", None, None),
    ("available", None, None),
    ("breaking-changes", None, None),
    ("notify-support", None, None),
    ("incremental", None, None),
    ("rollout-actors", "incremental", f"feature set {FLAG} <rollout-percentage> --actors"),
    ("rollout-random", "incremental", f"feature set {FLAG} <rollout-percentage> --random"),
    ("enable-production", "incremental", f"feature set {FLAG} true"),
    ("announce-enabled", None, None),
    ("wait", None, None),
    ("cleanup-mr", None, None),
    ("cleanup-references", "cleanup-mr", None),
    ("cleanup-definition", "cleanup-mr", None),
    ("cleanup-changelog", "cleanup-mr", None),
    ("cleanup-released", None, None),
    (
        "cleanup-released-command",
        "cleanup-released",
        "release check <merge-request-url> <milestone>",
    ),
    ("cleanup-delete", None, None),
    (
        "cleanup-delete-command",
        "cleanup-delete",
        f"feature delete {FLAG} --dev --staging --staging-ref --production",
    ),
    ("close", None, None),
    ("rollback", None, f"feature set {FLAG} false"),
]


def test_a_whole_rollout_issue() -> None:
    tasks = parse_tasks(ROLLOUT_ISSUE)
    lines = ROLLOUT_ISSUE.split("\n")

    assert len(tasks) == len(EXPECTED_STEPS) == 32
    assert all(task.raw == lines[task.line] for task in tasks)
    markers = [task.marker for task in tasks]
    assert [
        (t.marker, None if t.parent is None else markers[t.parent], t.command) for t in tasks
    ] == EXPECTED_STEPS
    # The example in the leading comment and the line in the rollback fence are no tasks.
    assert "example" not in markers
    assert "in-fence" not in markers
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

STEP_IDS = ("a", "b", "enable-staging", "rollback", "x1")
INLINE = st.text(alphabet="ab x~*_-+[]<>!`\\/.#=1)", max_size=12)


@st.composite
def task_lines(draw: st.DrawFn, marked: bool = False) -> str:
    # Marked lines stay tasks wherever they stand: no 4-column indent or 5-space gap.
    indents = ["", " ", "  ", "   "] + ([] if marked else ["    ", "\t", "      "])
    indent = draw(st.sampled_from(indents))
    bullet = draw(st.sampled_from(["-", "*", "+", "1.", "1)", "7.", "- -"]))
    gap = draw(st.sampled_from([" ", "  ", "\t"] + ([] if marked else ["     "])))
    box = draw(st.sampled_from(["[ ]", "[x]", "[X]", "[~]"]))
    step = draw(st.sampled_from(STEP_IDS) if marked else st.none() | st.sampled_from(STEP_IDS))
    label = "" if step is None else " " + marker(step)
    command = draw(st.sampled_from(["", " `/chatops run feature get f`"]))
    return f"{indent}{bullet}{gap}{box}{label} {draw(INLINE)}{command}"


OTHER_LINES = (
    st.sampled_from(
        [
            "",
            "text",
            "```",
            "~~~~",
            "  ```",
            "<!--",
            "-->",
            "<details>",
            "    indented",
            "> quote",
            "---",
            "# heading",
            "  continued",
            "  /chatops run feature set f false",
        ]
    )
    | INLINE
)
LINES = st.lists(task_lines() | OTHER_LINES, min_size=1, max_size=25)


def join(lines: list[str], endings: list[str]) -> str:
    return "".join(line + ending for line, ending in zip(lines, endings, strict=True))


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Random lines after a first line that is (nearly always) a marked task."""
    lines = [draw(task_lines(marked=True)), *draw(LINES)]
    endings = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    if draw(st.booleans()):
        endings[-1] = ""
    return join(lines, endings)


@given(lines=LINES, data=st.data())
def test_crlf_parses_like_lf(lines: list[str], data: st.DataObject) -> None:
    endings = data.draw(
        st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines))
    )
    assert parse_tasks(join(lines, endings)) == parse_tasks(join(lines, ["\n"] * len(lines)))


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


@given(
    text=st.text(alphabet="- *+1.)[]xX~ \t`<!>/\r\n#=ab\\:", max_size=200)
    | st.text(max_size=100)
    | documents()
)
def test_any_text_gives_consistent_tasks(text: str) -> None:
    tasks = parse_tasks(text)
    lines = re.split(r"\r\n|\r|\n", text)
    for index, task in enumerate(tasks):
        assert task.raw == lines[task.line]
        if index:
            assert tasks[index - 1].line < task.line
        if task.parent is not None:
            parent = tasks[task.parent]
            assert task.parent < index
            assert parent.line < task.line
            assert parent.indent < task.indent
    assert diff(text, text) == []
    for step in tasks_by_marker(text):
        for checked in (True, False):
            changed = set_checked(text, step, checked)
            assert len(changed) == len(text)
            assert sum(a != b for a, b in zip(text, changed, strict=True)) <= 1
