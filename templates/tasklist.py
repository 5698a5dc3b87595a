"""Task lists in a GitLab issue description: find them, diff two versions, tick one box.

Why: a rollout step runs when a person ticks its checkbox, and GitLab tells us only
the description before and after the edit (``changes.description`` in the Issue
Hook). So the bot must see task lists exactly where GitLab renders checkboxes, know
each step by the hidden marker after its checkbox (``<!-- step:ID -->``; positions
change whenever a person edits the issue), and, to untick a refused step, change one
character of the description so nothing else a person wrote is lost.

GitLab task lists: https://docs.gitlab.com/user/markdown/#task-lists . GitLab
Flavored Markdown is CommonMark (https://spec.commonmark.org/0.31.2/) plus GFM task
list items (https://github.github.com/gfm/#task-list-items-extension-) plus GitLab's
``[~]`` "inapplicable" items, which count as neither done nor to do.

How: no Markdown parser is installed in the project, so this is a hand-written,
single-pass line scanner that follows CommonMark's block structure just far enough
to know which lines are task items. Pure: no I/O, regexes compiled once at import.

- Lines end at LF, CRLF or a lone CR (CommonMark's three line endings), mixed freely.
  Line indexes are 0-based; ``Task.raw`` is the line without its ending.
- List items: bullets ``-`` ``*`` ``+`` and ordered ``1.`` ``1)`` (1-9 digits),
  followed by whitespace. Nesting follows CommonMark's content column: a line belongs
  to an item when it is indented at least to the column where the item's text starts
  (tabs count to the next multiple of 4). A paragraph keeps its items open across
  "lazy" continuation lines; a blank line keeps them open too. An ordered item may
  interrupt a paragraph only when it starts at 1. A marker followed by 5+ spaces
  starts indented code inside the item, so ``-     [ ] x`` is not a task.
- A task is a list item whose text starts with ``[ ]``, ``[x]``, ``[X]`` or ``[~]``
  followed by whitespace or the end of the line. ``[~]`` is ``inapplicable`` and
  never counts as ticked. As in GFM, the checkbox must open the item's first
  paragraph: a checkbox line underlined by ``---`` or ``===`` is a heading, no task.
- Nothing is a task inside: fenced code (three or more backticks or tildes, indented
  up to 3 columns within its container, closed by a fence of the same character at
  least as long, or by the end of its list item); HTML blocks, which covers a comment
  that starts a line and spans lines (until ``-->``) as well as ``<details>``-style
  blocks without a blank line (CommonMark's seven kinds); indented code (4+ columns
  beyond the container, outside a paragraph); GitLab front matter (``---``, ``+++``
  or ``;;;`` on the first non-blank line, closed by the same delimiter or ``...``).
  A comment that starts in the middle of a line is inline HTML: the next line is
  still parsed as blocks, so a task there is a task, as GitLab renders it.
- Limits, where the bot's own template never goes: lines inside ``>`` block quotes
  are never tasks, although GitLab renders ``> - [ ] x`` as one (so a step quoted
  there never runs); front matter after an encoding line is not recognised; the
  lines inside a GitLab ``>>>`` block quote are scanned as ordinary lines, so their
  tasks are reported, as GitLab renders them.

Checked by differential fuzzing against markdown-it-py's CommonMark block structure
(not a dependency): outside the limits above the two agree on which lines are tasks
and on their parents.

A task's marker must come right after its checkbox. Its text is the rest of the
item's first line. Its command is the first code span in that text whose content
starts with ``/chatops run ``; failing that, the first line starting with
``/chatops run `` in a fenced block placed directly in the task's item (the rollback
step keeps its command in such a block).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, StrEnum

__all__ = [
    "COMMAND_PREFIX",
    "STEP_ID",
    "STEP_MARKER",
    "Edge",
    "EdgeKind",
    "Task",
    "TaskNotFound",
    "TaskState",
    "diff",
    "duplicate_markers",
    "marker",
    "parse_tasks",
    "set_checked",
    "tasks_by_marker",
]

STEP_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
"""A step id: what the template writes into a marker and the bot keys steps by."""

STEP_MARKER = re.compile(r"<!-- step:(?P<id>[a-z0-9][a-z0-9-]*) -->")
"""The hidden marker, exactly as `marker` renders it (GitLab does not show comments)."""

COMMAND_PREFIX = "/chatops run "
"""What a step's command starts with; `Task.command` is the part after it."""


def marker(step_id: str) -> str:
    """Render the marker the template puts right after a step's checkbox."""
    if STEP_ID.fullmatch(step_id) is None:
        raise ValueError(f"invalid step id {step_id!r}: it must match {STEP_ID.pattern}")
    return f"<!-- step:{step_id} -->"


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


class EdgeKind(StrEnum):
    """How a step's ticked state changed.

    ``appeared_ticked``: a marker absent before shows up ticked, e.g. pasted text; no
    click we can attribute to a person, so callers that run commands ignore it.
    """

    TICKED = "ticked"
    UNTICKED = "unticked"
    APPEARED_TICKED = "appeared_ticked"


@dataclass(frozen=True, slots=True)
class Edge:
    """A step whose ticked state changed between two descriptions; ``task`` is its current form."""

    marker: str
    kind: EdgeKind
    task: Task


class TaskNotFound(KeyError):
    """No task carries this marker (it may sit in a code block, or have been deleted)."""

    def __init__(self, marker_id: str) -> None:
        super().__init__(marker_id)
        self.marker_id = marker_id

    def __str__(self) -> str:
        return f"no task with the marker '<!-- step:{self.marker_id} -->' in the description"


def parse_tasks(text: str) -> list[Task]:
    """Every task item of a description, in document order."""
    return _scan(text)[0]


def tasks_by_marker(text: str) -> dict[str, Task]:
    """Marked tasks by marker id, in document order; a repeated marker keeps its first task.

    The first wins so that the same task is chosen here, in `diff` and in
    `set_checked`; `duplicate_markers` tells the caller a marker is ambiguous.
    """
    return _by_marker(parse_tasks(text))


def duplicate_markers(text: str) -> dict[str, list[Task]]:
    """Markers carried by more than one task, each with all its tasks in document order.

    The first task of each list is the one the other functions use.
    """
    seen: dict[str, list[Task]] = {}
    for task in parse_tasks(text):
        if task.marker is not None:
            seen.setdefault(task.marker, []).append(task)
    return {marker_id: tasks for marker_id, tasks in seen.items() if len(tasks) > 1}


def diff(previous: str, current: str) -> list[Edge]:
    """The steps ticked or unticked between two descriptions, in the current document order.

    Steps are matched by marker, so moving or rewording a step is no edge. An
    unchanged state, a task without a marker and a removed task give nothing; ``[~]``
    counts as not ticked, so ``[~]`` to ``[x]`` is a tick. A marker that was not in
    `previous` and is ticked in `current` gives ``appeared_ticked``: we cannot tell
    who ticked it, so the caller decides (the worker runs only ``ticked``).
    """
    before = tasks_by_marker(previous)
    edges: list[Edge] = []
    for marker_id, task in tasks_by_marker(current).items():
        old = before.get(marker_id)
        if old is None:
            if task.checked:
                edges.append(Edge(marker_id, EdgeKind.APPEARED_TICKED, task))
        elif task.checked and not old.checked:
            edges.append(Edge(marker_id, EdgeKind.TICKED, task))
        elif old.checked and not task.checked:
            edges.append(Edge(marker_id, EdgeKind.UNTICKED, task))
    return edges


def set_checked(text: str, marker_id: str, checked: bool) -> str:
    """Tick or untick the task with this marker by rewriting the one character in its box.

    Everything else stays byte for byte (line endings, trailing newline). ``True``
    writes ``x`` unless the box holds ``x`` or ``X``; ``False`` writes a space unless
    the box is not ticked, so ``[~]`` stays inapplicable: a person's decision that a
    step does not apply is kept. Returns `text` itself when nothing changes. Raises
    `TaskNotFound` when no task carries the marker.
    """
    tasks, offsets = _scan(text)
    for task, offset in zip(tasks, offsets, strict=True):
        if task.marker == marker_id:
            if task.checked == checked:  # "not ticked" covers [ ] and [~]
                return text
            return text[:offset] + ("x" if checked else " ") + text[offset + 1 :]
    raise TaskNotFound(marker_id)


def _by_marker(tasks: list[Task]) -> dict[str, Task]:
    found: dict[str, Task] = {}
    for task in tasks:
        if task.marker is not None:
            found.setdefault(task.marker, task)
    return found


# --- the scanner -------------------------------------------------------------------

_LINE_END = re.compile(r"\r\n?|\n")
_LIST_MARKER = re.compile(r"(?:[-+*]|(\d{1,9})[.)])(?=[ \t]|$)")
_CHECKBOX = re.compile(r"\[([ xX~])\](?=[ \t]|$)")
_STATES = {
    " ": TaskState.UNCHECKED,
    "x": TaskState.CHECKED,
    "X": TaskState.CHECKED,
    "~": TaskState.INAPPLICABLE,
}
_FENCE_OPEN = re.compile(r"(`{3,})[^`]*$|(~{3,})")
_FENCE_CLOSE = re.compile(r"(`{3,}|~{3,})[ \t]*$")
_ATX_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"(?:=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FRONT_MATTER_OPEN = re.compile(r"(---|\+\+\+|;;;)[ \t]*\S*$")
_CODE_SPAN_TOKEN = re.compile(r"\\[\s\S]|`+")
_BACKTICKS = re.compile(r"`+")

# CommonMark HTML blocks 1-5 end at a line holding their end text ...
_HTML_UNTIL_TEXT = (
    (
        re.compile(r"<(?:pre|script|style|textarea)(?:[ \t>]|$)", re.IGNORECASE),
        re.compile(r"</(?:pre|script|style|textarea)>", re.IGNORECASE),
    ),
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<\?"), re.compile(r"\?>")),
    (re.compile(r"<![A-Za-z]"), re.compile(r">")),
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>")),
)
# ... blocks 6 (known block tags) and 7 (any lone tag, not inside a paragraph) at a blank line.
_HTML_BLOCK_TAG = re.compile(
    r"</?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup"
    r"|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame"
    r"|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav"
    r"|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th"
    r"|thead|title|tr|track|ul)(?:[ \t]|/?>|$)",
    re.IGNORECASE,
)
_HTML_ATTRIBUTE = (
    r"[ \t]+[A-Za-z_:][A-Za-z0-9_.:-]*"  # name
    r"""(?:[ \t]*=[ \t]*(?:[^ \t"'=<>`]+|'[^']*'|"[^"]*"))?"""  # value
)
_HTML_LONE_TAG = re.compile(
    r"(?:<(?!(?:pre|script|style|textarea)(?![A-Za-z0-9-]))[A-Za-z][A-Za-z0-9-]*"
    rf"(?:{_HTML_ATTRIBUTE})*[ \t]*/?>|</[A-Za-z][A-Za-z0-9-]*[ \t]*>)[ \t]*$",
    re.IGNORECASE,
)


class _Kind(Enum):
    TEXT = 1  # paragraph text, new or continued
    CODE = 2  # indented code
    BREAK = 3  # ATX heading or thematic break: one line, ends a paragraph
    SETEXT = 4  # setext underline: the open paragraph was a heading
    QUOTE = 5  # a block quote line, skipped whole
    FENCE = 6
    HTML = 7
    ITEM = 8


_QUOTED = -1
"""`para` value: the open paragraph is inside a skipped block quote (only lazy lines join it)."""


@dataclass(slots=True)
class _Item:
    content_col: int  # lines indented this far belong to the item
    task: int | None  # index of the item's own task
    owner: int | None  # nearest task among the item and its ancestors
    has_content: bool  # an item may start with at most one blank line


@dataclass(slots=True)
class _Leaf:
    """An open fenced code or HTML block: its lines hold no tasks."""

    depth: int  # how many list items contain it
    fence: str  # the opening fence; "" for HTML
    html_end: re.Pattern[str] | None  # None: ends at a blank line (or, for a fence, unused)
    task: int | None  # fence directly in a task's item: where its command goes


@dataclass(slots=True)
class _Draft:
    line: int
    raw: str
    indent: int
    state: TaskState
    marker: str | None
    text: str
    parent: int | None
    command_line: str | None
    offset: int  # of the character between the brackets, in the whole description


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


def _skip_indent(line: str, pos: int, col: int) -> tuple[int, int]:
    """Skip spaces and tabs from `pos`, at column `col`: the column and position reached."""
    end = len(line)
    while pos < end:
        char = line[pos]
        if char == " ":
            col += 1
        elif char == "\t":
            col += 4 - col % 4
        else:
            break
        pos += 1
    return col, pos


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


def _block_start(
    line: str, pos: int, rel: int, in_paragraph: bool, lazy: bool
) -> tuple[_Kind, re.Match[str] | None, re.Pattern[str] | None]:
    """What a line's content at `pos` starts, `rel` columns into its container.

    `in_paragraph`: the container holds an open paragraph, which setext underlines
    end and some list items cannot interrupt. `lazy`: a paragraph is open, here or
    deeper, so the line may continue it; indented code and lone HTML tags cannot
    interrupt it. Returns the kind, the list marker or fence match, and an HTML
    block's end text.
    """
    if rel >= 4:
        return (_Kind.TEXT if lazy else _Kind.CODE), None, None
    char = line[pos]
    if char == ">":
        return _Kind.QUOTE, None, None
    if char == "#" and _ATX_HEADING.match(line, pos):
        return _Kind.BREAK, None, None
    if char in "`~" and (fence := _FENCE_OPEN.match(line, pos)):
        return _Kind.FENCE, fence, None
    if char == "<":
        for start, end in _HTML_UNTIL_TEXT:
            if start.match(line, pos):
                return _Kind.HTML, None, end
        if _HTML_BLOCK_TAG.match(line, pos) or (not lazy and _HTML_LONE_TAG.match(line, pos)):
            return _Kind.HTML, None, None
    if in_paragraph and char in "=-" and _SETEXT_UNDERLINE.match(line, pos):
        return _Kind.SETEXT, None, None
    if char in "*-_" and _THEMATIC_BREAK.match(line, pos):
        return _Kind.BREAK, None, None
    if char in "-+*0123456789" and (item := _LIST_MARKER.match(line, pos)):
        number = item.group(1)
        empty = not line[item.end() :].strip(" \t")
        if not in_paragraph or not (empty or (number is not None and int(number) != 1)):
            return _Kind.ITEM, item, None
    return _Kind.TEXT, None, None


def _quote_has_paragraph(line: str, pos: int, col: int, continuing: bool) -> bool:
    """Whether a block quote line (``>`` at `pos`) leaves a paragraph open.

    Only then can the next line be a lazy continuation that keeps list items open.
    `continuing`: the line before was quoted text, which this line may continue.
    """
    while True:
        content_col = col + 2  # after ">" and its optional space
        col, pos = _skip_indent(line, pos + 1, col + 1)
        if pos == len(line):
            return False
        rel = max(col - content_col, 0)
        kind, found, _ = _block_start(line, pos, rel, continuing, continuing)
        if kind is not _Kind.QUOTE:
            break
    if kind is _Kind.ITEM:
        return found is not None and bool(line[found.end() :].strip(" \t"))
    return kind is _Kind.TEXT


def _code_spans(text: str) -> list[str]:
    """The contents of the CommonMark code spans in one line of inline text."""
    spans: list[str] = []
    pos = 0
    while (opener := _CODE_SPAN_TOKEN.search(text, pos)) is not None:
        pos = opener.end()
        run = opener.group()
        if run[0] == "\\":  # an escaped character; a backtick escaped so opens nothing
            continue
        for closer in _BACKTICKS.finditer(text, pos):
            if len(closer.group()) == len(run):
                content = text[pos : closer.start()]
                if content[:1] == " " and content[-1:] == " " and content.strip(" "):
                    content = content[1:-1]
                spans.append(content)
                pos = closer.end()
                break
    return spans


def _new_task(
    number: int, start: int, line: str, col: int, box: re.Match[str], parent: int | None
) -> _Draft:
    rest = line[box.end() :].lstrip(" \t")
    step = STEP_MARKER.match(rest)
    if step is not None:
        rest = rest[step.end() :]
    text = rest.strip(" \t")
    command = next((span for span in _code_spans(text) if span.startswith(COMMAND_PREFIX)), None)
    return _Draft(
        line=number,
        raw=line,
        indent=col,
        state=_STATES[box.group(1)],
        marker=None if step is None else step.group("id"),
        text=text,
        parent=parent,
        command_line=command,
        offset=start + box.start(1),
    )


def _scan(text: str) -> tuple[list[Task], list[int]]:
    """The tasks of `text`, and for each the offset of the character in its box."""
    lines = _split_lines(text)
    drafts: list[_Draft] = []
    items: list[_Item] = []  # open list items, outermost first
    leaf: _Leaf | None = None
    para: int | None = None  # depth of the container holding the open paragraph
    para_task: int | None = None  # the task whose checkbox line opened that paragraph

    for number in range(_front_matter_end(lines) + 1, len(lines)):
        start, line = lines[number]
        col, pos = _skip_indent(line, 0, 0)
        blank = pos == len(line)

        # Which open items continue on this line.
        matched = 0
        for item in items:
            continues = item.has_content if blank else col >= item.content_col
            if not continues:
                break
            matched += 1

        if leaf is not None:
            if matched == len(items):
                base = items[-1].content_col if items else 0
                if leaf.fence:
                    closing = None if blank or col - base >= 4 else _FENCE_CLOSE.match(line, pos)
                    if closing and closing.group(1).startswith(leaf.fence):
                        leaf = None
                    elif leaf.task is not None and drafts[leaf.task].command_line is None:
                        content = line.strip(" \t")
                        if content.startswith(COMMAND_PREFIX):
                            drafts[leaf.task].command_line = content
                elif blank:
                    if leaf.html_end is None:
                        leaf = None
                elif leaf.html_end is not None and leaf.html_end.search(line, pos):
                    leaf = None
                continue
            leaf = None  # its list item ended, and the block with it

        if blank:
            del items[matched:]
            para = para_task = None
            continue

        depth = matched
        base = items[depth - 1].content_col if depth else 0
        kind, found, html_end = _block_start(line, pos, col - base, para == depth, para is not None)
        if kind is _Kind.TEXT and para is not None:
            continue  # the paragraph goes on (on a lazy line, its items with it)
        quoted = para == _QUOTED
        if kind is _Kind.SETEXT and para_task is not None:
            # GFM: a task item's first block is a paragraph; "[ ] a" underlined is a heading.
            items[-1].task = None
            items[-1].owner = drafts.pop().parent
        del items[depth:]
        if depth:
            items[-1].has_content = True
        para = para_task = None

        while True:  # a line may open several items: "- - [ ] task"
            if kind is _Kind.TEXT:
                para = depth
            elif kind is _Kind.QUOTE:
                para = _QUOTED if _quote_has_paragraph(line, pos, col, quoted) else None
            elif kind is _Kind.FENCE:
                assert found is not None
                fence = found.group(1) or found.group(2)
                leaf = _Leaf(depth, fence, None, items[-1].task if items else None)
            elif kind is _Kind.HTML:
                if html_end is None or not html_end.search(line, pos):
                    leaf = _Leaf(depth, "", html_end, None)
            elif kind is _Kind.ITEM:
                assert found is not None
                marker_col = col
                marker_end = col + len(found.group())
                col, pos = _skip_indent(line, found.end(), marker_end)
                empty = pos == len(line)
                base = col if not empty and col - marker_end <= 4 else marker_end + 1
                owner = items[-1].owner if items else None
                task = None
                if base == col and (box := _CHECKBOX.match(line, pos)):
                    task = len(drafts)
                    drafts.append(_new_task(number, start, line, marker_col, box, owner))
                items.append(_Item(base, task, owner if task is None else task, not empty))
                depth += 1
                if task is not None:
                    para, para_task = depth, task
                elif not empty:
                    kind, found, html_end = _block_start(line, pos, col - base, False, False)
                    continue
            break

    tasks = [
        Task(d.line, d.raw, d.indent, d.state, d.marker, d.text, d.parent, d.command_line)
        for d in drafts
    ]
    return tasks, [d.offset for d in drafts]
