"""Rollout steps in an issue description: look them up by marker, diff two versions, tick one box.

Why: GitLab's Issue Hook sends only the description before and after an edit
(``changes.description``), and positions change whenever a person edits the issue,
so steps are known by the hidden marker after their checkbox (`templates.markers`).
To untick a refused step the bot changes the one character inside its box, so
nothing else a person wrote is lost (GitLab's API has no optimistic locking for
descriptions). Where the tasks are is `templates.tasklist`'s job. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from templates.tasklist import Task, locate_tasks, parse_tasks

__all__ = [
    "Edge",
    "EdgeKind",
    "TaskNotFound",
    "diff",
    "duplicate_markers",
    "set_checked",
    "tasks_by_marker",
]


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


def tasks_by_marker(text: str) -> dict[str, Task]:
    """Marked tasks by marker id, in document order; a repeated marker keeps its first task.

    The first wins so that the same task is chosen here, in `diff` and in
    `set_checked`; `duplicate_markers` tells the caller a marker is ambiguous.
    """
    found: dict[str, Task] = {}
    for task in parse_tasks(text):
        if task.marker is not None:
            found.setdefault(task.marker, task)
    return found


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
    for task, offset in locate_tasks(text):
        if task.marker == marker_id:
            if task.checked == checked:  # "not ticked" covers [ ] and [~]
                return text
            return text[:offset] + ("x" if checked else " ") + text[offset + 1 :]
    raise TaskNotFound(marker_id)
