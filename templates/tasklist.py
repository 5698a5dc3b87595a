"""Task lists in a GitLab issue description, found where GitLab renders checkboxes.

Why: a rollout step runs when a person ticks its checkbox, and GitLab tells us only
the description before and after the edit. So the bot must see a task exactly where
GitLab renders one; a line that only looks like a task (in a code block, an HTML
comment, front matter) must never run a step. The step logic built on this (markers,
diffs, the one-character untick) lives in `templates.steps`.

GitLab task lists: https://docs.gitlab.com/user/markdown/#task-lists . GitLab
Flavored Markdown is CommonMark (https://spec.commonmark.org/0.31.2/) plus GFM task
list items (https://github.github.com/gfm/#task-list-items-extension-) plus GitLab's
``[~]`` "inapplicable" items, which count as neither done nor to do.

How: markdown-it-py's CommonMark block parser finds the blocks, so nesting, lazy
continuation lines, fences, indented code and HTML blocks follow the spec rather than
a hand-written scanner. Each ``list_item_open`` token's ``.map`` gives its first
source line; the item is a task when its first block is a paragraph starting on that
line with ``[ ]``, ``[x]``, ``[X]`` or ``[~]`` followed by whitespace or the line end.
We check the checkbox ourselves instead of using mdit-py-plugins' ``tasklists``: that
plugin knows neither ``[~]`` nor a box at the end of a line, and needs the inline
pass, which costs as much again on a 1 MB description. Only the block rules run.

- Lines end at LF, CRLF or a lone CR, as markdown-it normalises them; line indexes are
  0-based and ``Task.raw`` is the source line without its ending.
- Nothing is a task inside fenced or indented code, HTML blocks or GitLab front
  matter (``---``, ``+++`` or ``;;;`` on the first non-blank line, closed by the same
  delimiter or ``...``). mdit-py-plugins' ``front_matter`` plugin is not used: it
  knows only ``---`` on the very first line, and GitLab strips front matter before
  rendering, so the text after it is parsed as a document of its own.
- Limits, where the bot's own template never goes: items inside ``>`` block quotes
  are never tasks, although GitLab renders ``> - [ ] x`` as one (so a step quoted
  there never runs); front matter after an encoding line is not recognised; from a
  list nested deeper than `MAX_NESTING` allows (about 50 lists) to the end, nothing
  is read: markdown-it's recursion guard, which keeps a hostile description from
  exhausting the stack, skips the rest of the document.

A task's marker must come right after its checkbox. Its text is the rest of the
item's first line. Its command is the first code span in that text whose content
starts with ``/chatops run ``; failing that, the first line starting with
``/chatops run `` in a fenced block placed directly in the task's item (the rollback
step keeps its command in such a block). Pure: no I/O; the parsers are built once at
import and keep no state between calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from markdown_it import MarkdownIt
from markdown_it.token import Token

from templates.markers import STEP_MARKER

__all__ = [
    "COMMAND_PREFIX",
    "MAX_NESTING",
    "Task",
    "TaskState",
    "locate_tasks",
    "parse_tasks",
]

COMMAND_PREFIX = "/chatops run "
"""What a step's command starts with; `Task.command` is the part after it."""

MAX_NESTING = 100
"""markdown-it's nesting limit: a list and its item take two levels, a block quote one."""


class TaskState(StrEnum):
    """A checkbox as GitLab shows it; only ``checked`` counts as ticked."""

    UNCHECKED = "unchecked"  # [ ]
    CHECKED = "checked"  # [x] or [X]
    INAPPLICABLE = "inapplicable"  # [~]: GitLab shows it struck out and never counts it done


@dataclass(frozen=True, slots=True)
class Task:
    """One task-list item as GitLab renders it.

    ``indent`` is the column of the item's list marker (tabs to 4-column stops);
    ``parent`` is the index, in the list `parse_tasks` returns, of the nearest
    enclosing task, or None; ``command_line`` is the whole ``/chatops run ...`` text.
    """

    line: int
    raw: str
    indent: int
    state: TaskState
    marker: str | None
    text: str
    parent: int | None
    command_line: str | None

    @property
    def checked(self) -> bool:
        """Ticked: ``[x]`` or ``[X]``; ``[~]`` is not."""
        return self.state is TaskState.CHECKED

    @property
    def command(self) -> str | None:
        """The command without ``/chatops run ``, e.g. ``feature set my_flag true``."""
        if self.command_line is None:
            return None
        return self.command_line[len(COMMAND_PREFIX) :].strip()


def parse_tasks(text: str) -> list[Task]:
    """Every task item of a description, in document order."""
    return [task for task, _ in locate_tasks(text)]


def locate_tasks(text: str) -> list[tuple[Task, int]]:
    """Every task with the offset in `text` of the character between its brackets.

    The offset is what `templates.steps.set_checked` rewrites, so a tick or an untick
    changes that one character and nothing else a person wrote.
    """
    lines = _split_lines(text)
    first = _front_matter_end(lines) + 1
    if first >= len(lines):
        return []
    tokens = _BLOCKS.parse(text[lines[first][0] :])

    located: list[tuple[Task, int]] = []
    items: list[tuple[int | None, int | None]] = []  # open items: (own task, nearest task)
    quotes = 0
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "list_item_open":
            nearest = items[-1][1] if items else None
            own = None
            line = None if quotes else _checkbox_line(tokens, index)
            if line is not None:
                own = len(located)
                located.append(_task(first + line, *lines[first + line], nearest))
            items.append((own, nearest if own is None else own))
        elif kind == "list_item_close":
            items.pop()
        elif kind == "blockquote_open":
            quotes += 1
        elif kind == "blockquote_close":
            quotes -= 1
        elif kind == "fence" and not quotes and items and (own := items[-1][0]) is not None:
            task, offset = located[own]
            if task.command_line is None and (command := _fence_command(token.content)):
                located[own] = (replace(task, command_line=command), offset)
    return located


# --- reading the tokens ------------------------------------------------------------

_BLOCKS = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).disable(["inline", "text_join"])
_INLINE = MarkdownIt("commonmark")  # for a task's first line only, to find its code spans

_LINE_END = re.compile(r"\r\n?|\n")  # CommonMark's three line endings, as markdown-it's
_CHECKBOX = re.compile(r"\[([ xX~])\](?=[ \t\n]|$)")
_STATES = {
    " ": TaskState.UNCHECKED,
    "x": TaskState.CHECKED,
    "X": TaskState.CHECKED,
    "~": TaskState.INAPPLICABLE,
}
_LAST_LIST_MARKER = re.compile(r"(?:[-+*]|[0-9]{1,9}[.)])[ \t]*$")
_FRONT_MATTER_OPEN = re.compile(r"(---|\+\+\+|;;;)[ \t]*\S*$")


def _split_lines(text: str) -> list[tuple[int, str]]:
    """(start offset, line without its ending) for each line; no empty line after a final ending."""
    lines: list[tuple[int, str]] = []
    start = 0
    for end in _LINE_END.finditer(text):
        lines.append((start, text[start : end.start()]))
        start = end.end()
    if start < len(text):
        lines.append((start, text[start:]))
    return lines


def _front_matter_end(lines: list[tuple[int, str]]) -> int:
    """Index of the line closing GitLab front matter, or -1 when there is none."""
    first = next((index for index, (_, line) in enumerate(lines) if line.strip()), None)
    if first is None:
        return -1
    opening = _FRONT_MATTER_OPEN.match(lines[first][1])
    if opening is None:
        return -1
    delimiter = opening.group(1)
    for index in range(first + 1, len(lines)):
        line = lines[index][1]
        if line[:3] in (delimiter, "...") and not line[3:].strip(" \t\f\v"):
            return index
    return -1


def _checkbox_line(tokens: list[Token], index: int) -> int | None:
    """The line of the item opened at `index` when its first paragraph opens with a checkbox.

    GFM: the checkbox must open the item's first block, on the item's own line; a
    checkbox line underlined by ``---`` is a heading, and ``-`` alone on a line
    followed by ``[ ] a`` is no task either.
    """
    item, paragraph = tokens[index], tokens[index + 1]
    if paragraph.type != "paragraph_open" or item.map is None or paragraph.map is None:
        return None
    if paragraph.map[0] != item.map[0] or _CHECKBOX.match(tokens[index + 2].content) is None:
        return None
    return item.map[0]


def _task(number: int, start: int, raw: str, parent: int | None) -> tuple[Task, int]:
    """The task on source line `number`, known to open with a checkbox after its markers.

    What precedes the paragraph on the item's own line is indentation and list markers
    (``- 1. [ ] x``), so the first ``[`` is the checkbox and the last marker is the item's.
    """
    pos = raw.index("[")
    box = _CHECKBOX.match(raw, pos)
    list_marker = _LAST_LIST_MARKER.search(raw, 0, pos)
    assert box is not None and list_marker is not None, "markdown-it saw a checkbox here"
    rest = raw[box.end() :].lstrip(" \t")
    step = STEP_MARKER.match(rest)
    if step is not None:
        rest = rest[step.end() :]
    text = rest.strip(" \t")
    task = Task(
        line=number,
        raw=raw,
        indent=len(raw[: list_marker.start()].expandtabs(4)),
        state=_STATES[box.group(1)],
        marker=None if step is None else step.group("id"),
        text=text,
        parent=parent,
        command_line=_inline_command(text),
    )
    return task, start + box.start(1)


def _inline_command(text: str) -> str | None:
    """The content of the first code span in `text` that holds a ChatOps command."""
    if "`" not in text or COMMAND_PREFIX not in text:
        return None  # most task lines: skip the inline parser
    for paragraph in _INLINE.parseInline(text):
        for child in paragraph.children or ():
            if child.type == "code_inline" and child.content.startswith(COMMAND_PREFIX):
                return child.content
    return None


def _fence_command(content: str) -> str | None:
    """The first ``/chatops run`` line of a fenced block, without surrounding blanks."""
    for line in content.split("\n"):
        stripped = line.strip(" \t")
        if stripped.startswith(COMMAND_PREFIX):
            return stripped
    return None
