"""Rollout steps in an issue description: look them up by marker, diff two versions, tick one box.

Why: GitLab's Issue Hook sends only the description before and after an edit
(``changes.description``), and positions change whenever a person edits the issue,
so steps are known by the hidden marker after their checkbox (`templates.markers`).
To untick a refused step the bot changes the one character inside its box, so
nothing else a person wrote is lost (GitLab's API has no optimistic locking for
descriptions). Where the tasks are is `templates.tasklist`'s job. Pure: no I/O.

A marker means one step: `StepIndex` is the one lookup every reader goes through,
and a marker that several tasks carry names no step at all, so a pasted copy (in a
collapsed ``<details>`` block, say) can neither run its own command nor stand in for
the step it copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from templates.tasklist import Task, locate_tasks

__all__ = [
    "AmbiguousMarker",
    "Edge",
    "EdgeKind",
    "StepIndex",
    "TaskNotFound",
    "diff",
    "display_lines",
    "duplicate_markers",
    "set_checked",
    "step_index",
    "tasks_by_marker",
]


class EdgeKind(StrEnum):
    """How a step's ticked state changed.

    ``appeared_ticked``: a marker absent before (or on several tasks before) shows up
    ticked on one task, e.g. pasted text; no click we can attribute to a person, so
    callers that run commands ignore it. ``ambiguous``: a box changed on a marker that
    several tasks carry; nobody can say which task is the step, so nothing may run.
    """

    TICKED = "ticked"
    UNTICKED = "unticked"
    APPEARED_TICKED = "appeared_ticked"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class Edge:
    """A step whose ticked state changed between two descriptions; ``task`` is its current form.

    For ``ambiguous`` edges ``task`` is the first copy and ``copies`` holds them all.
    """

    marker: str
    kind: EdgeKind
    task: Task
    copies: tuple[Task, ...] = ()


class TaskNotFound(KeyError):
    """No single task carries this marker (it may sit in a code block, or have been deleted)."""

    def __init__(self, marker_id: str) -> None:
        super().__init__(marker_id)
        self.marker_id = marker_id

    def __str__(self) -> str:
        return f"no task with the marker '<!-- step:{self.marker_id} -->' in the description"


class AmbiguousMarker(TaskNotFound):
    """Several tasks carry this marker, so none of them is the step.

    A subclass of `TaskNotFound` on purpose: code that skips a step it cannot find
    (the finish job ticking its boxes) then also skips a step it cannot identify.
    """

    def __init__(self, marker_id: str, copies: tuple[Task, ...]) -> None:
        super().__init__(marker_id)
        self.copies = copies

    @property
    def lines(self) -> tuple[int, ...]:
        return display_lines(self.copies)

    def __str__(self) -> str:
        numbers = ", ".join(map(str, self.lines))
        return (
            f"{len(self.copies)} tasks carry the marker '<!-- step:{self.marker_id} -->' "
            f"(lines {numbers})"
        )


def display_lines(tasks: tuple[Task, ...]) -> tuple[int, ...]:
    """Line numbers as a person counts them in the description: from 1."""
    return tuple(task.line + 1 for task in tasks)


@dataclass(frozen=True)
class StepIndex:
    """The one lookup of marker -> task for a description.

    Parsing, the diff, the bot and unticking all read steps through this, so they can
    never disagree about which task a marker names: a marker on one task names it; a
    marker on several tasks names none (`find` raises `AmbiguousMarker`), whichever
    copy comes first. Code blocks and quotes hold no tasks (`templates.tasklist`).
    """

    tasks: tuple[Task, ...]
    """Every task, marked or not, in document order (`Task.parent` indexes into it)."""
    copies: Mapping[str, tuple[Task, ...]]
    """Every task carrying each marker, in document order; markers by first appearance."""
    _offsets: Mapping[int, int] = field(repr=False)  # task line -> offset of its box

    @property
    def unique(self) -> dict[str, Task]:
        """Markers that name exactly one task, with that task."""
        return {m: tasks[0] for m, tasks in self.copies.items() if len(tasks) == 1}

    @property
    def duplicates(self) -> dict[str, tuple[Task, ...]]:
        """Markers on more than one task, with every copy."""
        return {m: tasks for m, tasks in self.copies.items() if len(tasks) > 1}

    def find(self, marker_id: str) -> Task:
        """The one task carrying the marker; `TaskNotFound` or `AmbiguousMarker` otherwise."""
        found = self.copies.get(marker_id, ())
        if not found:
            raise TaskNotFound(marker_id)
        if len(found) > 1:
            raise AmbiguousMarker(marker_id, found)
        return found[0]

    def offset(self, task: Task) -> int:
        """Where in the text the character between the task's brackets is."""
        return self._offsets[task.line]


def step_index(text: str) -> StepIndex:
    located = locate_tasks(text)
    copies: dict[str, list[Task]] = {}
    for task, _ in located:
        if task.marker is not None:
            copies.setdefault(task.marker, []).append(task)
    return StepIndex(
        tasks=tuple(task for task, _ in located),
        copies={marker_id: tuple(tasks) for marker_id, tasks in copies.items()},
        _offsets={task.line: offset for task, offset in located},
    )


def tasks_by_marker(text: str) -> dict[str, Task]:
    """Markers that name exactly one task, in document order; see `StepIndex.unique`."""
    return step_index(text).unique


def duplicate_markers(text: str) -> dict[str, tuple[Task, ...]]:
    """Markers carried by more than one task, each with all its tasks in document order."""
    return step_index(text).duplicates


def diff(previous: str, current: str) -> list[Edge]:
    """The steps ticked or unticked between two descriptions, in the current document order.

    Steps are matched by marker, so moving or rewording a step is no edge. An
    unchanged state, a task without a marker and a removed task give nothing; ``[~]``
    counts as not ticked, so ``[~]`` to ``[x]`` is a tick. A marker that was not in
    `previous` (or was on several tasks there) and is ticked on one task in `current`
    gives ``appeared_ticked``: we cannot tell who ticked it, so the caller decides (the
    worker runs only ``ticked``). A marker on several tasks in `current` gives
    ``ambiguous`` when a tick is involved (a copy is ticked now or was before) and any
    copy's box changed, or copies came or went; pasting an unticked copy next to an
    unticked step gives nothing yet: the next tick of either is ``ambiguous``.
    """
    before = step_index(previous).copies
    edges: list[Edge] = []
    for marker_id, copies in step_index(current).copies.items():
        old = before.get(marker_id, ())
        was = tuple(task.checked for task in old)
        now = tuple(task.checked for task in copies)
        if len(copies) > 1:
            if now != was and (any(now) or any(was)):
                edges.append(Edge(marker_id, EdgeKind.AMBIGUOUS, copies[0], copies))
            continue
        (task,) = copies
        if len(old) != 1:
            if task.checked:
                edges.append(Edge(marker_id, EdgeKind.APPEARED_TICKED, task))
        elif task.checked and not old[0].checked:
            edges.append(Edge(marker_id, EdgeKind.TICKED, task))
        elif old[0].checked and not task.checked:
            edges.append(Edge(marker_id, EdgeKind.UNTICKED, task))
    return edges


def set_checked(text: str, marker_id: str, checked: bool) -> str:
    """Tick or untick the task with this marker by rewriting the one character in its box.

    Everything else stays byte for byte (line endings, trailing newline). ``True``
    writes ``x`` unless the box holds ``x`` or ``X``; ``False`` writes a space unless
    the box is not ticked, so ``[~]`` stays inapplicable: a person's decision that a
    step does not apply is kept. Returns `text` itself when nothing changes. Raises
    `TaskNotFound` when no task carries the marker and `AmbiguousMarker` when several
    do: a box the bot cannot identify is never changed.
    """
    index = step_index(text)
    task = index.find(marker_id)
    if task.checked == checked:  # "not ticked" covers [ ] and [~]
        return text
    offset = index.offset(task)
    return text[:offset] + ("x" if checked else " ") + text[offset + 1 :]
