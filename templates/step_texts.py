"""Telling a hand-made rollout issue's tasks for the template's steps by their text.

Why apart from `templates.adoption`: a task without a command has only its words to go
by, and people reword, re-link and re-wrap them across template versions. So texts are
compared as a person reads them (links, emphasis and code marks gone, one case, the
flag's name and `<feature-flag-name>` alike) with `difflib`'s ratio, the closest pairs
first, and a pair must reach `TEXT_MATCH`. Pure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from templates.tasklist import Task

__all__ = ["PREFIX_LENGTH", "TEXT_MATCH", "place_texts"]

FLAG_PLACEHOLDER = "<feature-flag-name>"
"""What the template has where the flag goes."""

TEXT_MATCH = 0.75
"""How alike (difflib's ratio of the plain texts) a task must be to a step to be it."""
PREFIX_LENGTH = 30
"""A task's first line this long or longer may match the start of a step's text: older
templates wrap a step's text over several lines, and a task's text is its first line."""


def _plain(text: str, flag: str) -> str:
    """A step's text as a person reads it: no links, emphasis or code marks, one case."""
    text = re.sub(r"!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])", r"\1", text)
    text = re.sub(r"[`*_]+", "", text.replace(flag, "{flag}").replace(FLAG_PLACEHOLDER, "{flag}"))
    return " ".join(text.split()).lower()


def place_texts(flag: str, tasks: Sequence[Task], template: Mapping[str, Task]) -> dict[int, str]:
    """Tasks without a command, by index, paired with the template's steps by text."""
    wanted = {
        step: _plain(task.text, flag)
        for step, task in template.items()
        if not step.endswith("-command")  # a command step is told by its command
    }
    # Closest first; among equal texts (two "Close this rollout issue."), the step at the
    # same relative place in the template as the task in the issue.
    pairs: list[tuple[float, float, int, str]] = []
    for index, task in enumerate(tasks):
        if task.command_line is not None:
            continue
        text = _plain(task.text, flag)
        for order, (step, expected) in enumerate(wanted.items()):
            score = _likeness(text, expected)
            if score >= TEXT_MATCH:
                distance = abs(index / len(tasks) - order / len(wanted))
                pairs.append((-score, distance, index, step))
    placed: dict[int, str] = {}
    used: set[str] = set()
    for _, _, index, step in sorted(pairs):
        if index not in placed and step not in used:
            placed[index] = step
            used.add(step)
    return placed


def _likeness(text: str, expected: str) -> float:
    """difflib's ratio of the two texts, or of the text and as much of the step's text."""
    score = _ratio(text, expected)
    if PREFIX_LENGTH <= len(text) < len(expected):
        score = max(score, _ratio(text, expected[: len(text)]))
    return score


def _ratio(a: str, b: str) -> float:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < TEXT_MATCH or matcher.quick_ratio() < TEXT_MATCH:
        return 0.0
    return matcher.ratio()
