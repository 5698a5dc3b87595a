"""templates.tasklist: tasks where GitLab renders checkboxes, from markdown-it's blocks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from templates.markers import STEP_ID, STEP_MARKER, marker
from templates.tasklist import COMMAND_PREFIX, MAX_NESTING, Task, TaskState, parse_tasks
from tests.task_documents import (
    ANY_TEXT,
    BLOCK_LINES,
    FLAG,
    INLINE,
    LINES,
    ROLLOUT_ISSUE,
    documents,
    join,
    task_lines,
)


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


# --- a whole rollout issue ---------------------------------------------------------

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


def test_a_list_nested_past_the_limit_ends_the_reading_without_exhausting_the_stack() -> None:
    # markdown-it's guard: past MAX_NESTING it skips the rest of the document, so a hostile
    # 1 MB description cannot raise RecursionError; tasks before the deep list stay.
    deep = "- " * 100_000 + "[ ] deep\n\n- [ ] <!-- step:b --> after\n"
    assert texts("- [ ] <!-- step:a --> before\n\n" + deep) == ["before"]
    depth = MAX_NESTING // 2 - 1  # a list and its item take two levels each
    within = "".join("  " * level + f"- [ ] {level}\n" for level in range(depth))
    assert [t.parent for t in parse_tasks(within)] == [None, *range(depth - 1)]


# --- properties --------------------------------------------------------------------


@given(lines=LINES, data=st.data())
def test_crlf_parses_like_lf(lines: list[str], data: st.DataObject) -> None:
    endings = data.draw(
        st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines))
    )
    assert parse_tasks(join(lines, endings)) == parse_tasks(join(lines, ["\n"] * len(lines)))


@given(text=ANY_TEXT)
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


# markdown-it-py's own task lists, as a reference: mdit-py-plugins' tasklists plugin on the
# full CommonMark parse. Generated documents stay outside the documented differences: no
# [~] (GitLab's own), no box ending its line (GFM wants whitespace after it), no line
# starting with ">" (block quotes) or "[" (a box on a line after its list marker), and a
# task first, so no front matter.
REFERENCE = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).use(tasklists_plugin)
GFM_BOXES = ("[ ]", "[x]", "[X]")
WORDS = INLINE.map(lambda text: "w" + text)
GFM_DOCUMENTS = documents(
    first=task_lines(marked=True, boxes=GFM_BOXES, inline=WORDS),
    rest=st.lists(
        task_lines(boxes=GFM_BOXES, inline=WORDS)
        | st.sampled_from([line for line in BLOCK_LINES if not line.startswith(">")])
        | WORDS,
        max_size=25,
    ),
)


def reference_tasks(text: str) -> list[tuple[int, bool, int | None]]:
    """(line, ticked, line of the nearest enclosing task) for each item the plugin marks."""
    tokens = REFERENCE.parse(text)
    found: list[tuple[int, bool, int | None]] = []
    nearest: list[int | None] = []  # per open item: the line of the task it is or sits in
    for index, token in enumerate(tokens):
        if token.type == "list_item_open":
            assert token.map is not None
            enclosing = nearest[-1] if nearest else None
            if token.attrGet("class") == "task-list-item":
                checkbox = (tokens[index + 2].children or [])[0]
                found.append((token.map[0], 'checked="checked"' in checkbox.content, enclosing))
                enclosing = token.map[0]
            nearest.append(enclosing)
        elif token.type == "list_item_close":
            nearest.pop()
    return found


@given(text=GFM_DOCUMENTS)
def test_tasks_agree_with_markdown_it_task_lists(text: str) -> None:
    tasks = parse_tasks(text)
    ours = [(t.line, t.checked, None if t.parent is None else tasks[t.parent].line) for t in tasks]
    assert ours == reference_tasks(text)


def test_the_reference_sees_tasks_and_the_documented_differences() -> None:
    # The differential test above is only worth something if the reference finds tasks ...
    assert reference_tasks("- [ ] a\n  - [x] b\n") == [(0, False, None), (1, True, 0)]
    # ... and if what it leaves out really is ours alone.
    for ours_only in ["- [~] a", "- [ ]", "-\n  [ ] a", "> - [ ] a"]:
        assert len(parse_tasks(ours_only)) != len(reference_tasks(ours_only))
