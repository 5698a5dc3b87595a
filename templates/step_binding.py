"""Binding an issue's steps to the commands the template gives them: at opening, or later.

When the bot opens a rollout issue, `render_with_shapes` renders it and reads back
the shape of every step's command (`templates.step_shapes`), so what is recorded is
exactly what the issue showed, never a table kept by hand beside the template.

Issues opened before shapes were recorded are bound by `bind`. Their values were not
kept, so they are recovered from the issue itself, and only those that go into
commands: the merge commit SHA (when both deployment steps name the same one) and
the actor lists of the three actor steps (when they hold no placeholder). The
template is rendered with those values and the flag the issue was recorded with,
and each step whose command has the rendered shape (slots filled with values of
their type) gets that shape; any other step gets none and never runs. So a value
rendered into a command is pinned as the issue shows it now: a change made before
`bind` ran cannot be told from the original, one made after it is refused. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flags.errors import Refusal
from templates.render import TEMPLATE_VERSION, IssueValues, render_issue
from templates.step_shapes import CommandShape, differences, read_shape, step_shapes
from templates.steps import duplicate_markers, tasks_by_marker

__all__ = [
    "Binding",
    "Rendering",
    "bind",
    "recover_values",
    "render_with_shapes",
    "values_from_json",
    "values_to_json",
]

# Why a step of an older issue gets no shape; user-facing (`rollout-bot issue record-steps`).
STEP_MISSING = "the step is not in the issue any more"
STEP_REPEATED = "its marker appears on {count} tasks, so the step cannot be told apart"
COMMAND_MISSING = "the step's line holds no `/chatops run` command"
COMMAND_DIFFERS = "the command is not the template's `{expected}`: {differences}"

SHA_STEPS = ("deployed-non-production-command", "deployed-production-command")
ACTOR_STEPS = {
    "enable-project-actors-command": ("project", "actor_projects"),
    "enable-group-actors-command": ("group", "actor_groups"),
    "enable-user-actors-command": ("user", "actor_users"),
}


@dataclass(frozen=True)
class Rendering:
    """A rollout issue as the bot rendered it: what to record with the issue."""

    template_version: int
    values: IssueValues
    markdown: str
    shapes: Mapping[str, CommandShape]


def render_with_shapes(values: IssueValues, environments: Sequence[str]) -> Rendering:
    markdown = render_issue(values)
    return Rendering(TEMPLATE_VERSION, values, markdown, step_shapes(markdown, environments))


def values_to_json(values: IssueValues) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(values).items()
    }


def values_from_json(data: Mapping[str, Any]) -> IssueValues:
    fields: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value for key, value in data.items()
    }
    return IssueValues(**fields)


@dataclass(frozen=True)
class Binding:
    """The shapes of an older issue's steps that match their template; why the others do not."""

    rendering: Rendering
    shapes: dict[str, CommandShape]
    unmatched: dict[str, str]


def recover_values(flag: str, markdown: str, environments: Sequence[str]) -> IssueValues:
    """The values of `flag`'s issue that went into its commands, as far as the issue shows them."""
    commands = _live_shapes(markdown, environments)
    found: dict[str, Any] = {}
    shas = {
        shape.arguments[0]
        for step in SHA_STEPS
        if (shape := commands.get(step)) is not None and len(shape.arguments) == 1
    }
    if len(shas) == 1:
        found["merge_commit_sha"] = shas.pop()
    for step, (kind, name) in ACTOR_STEPS.items():
        shape = commands.get(step)
        refs = None if shape is None else dict(shape.targets).get(kind)
        if refs is not None:
            found[name] = refs
    kept: dict[str, Any] = {}
    for name, value in found.items():
        try:  # a placeholder or a malformed value is no rendered value
            IssueValues(flag_name=flag, **{name: value})
        except (ValueError, TypeError):
            continue
        kept[name] = value
    return IssueValues(flag_name=flag, **kept)


def bind(flag: str, markdown: str, environments: Sequence[str]) -> Binding:
    """Match an older issue's command steps against the template rendered with recovered values."""
    rendering = render_with_shapes(recover_values(flag, markdown, environments), environments)
    tasks = tasks_by_marker(markdown)
    repeated = duplicate_markers(markdown)
    shapes: dict[str, CommandShape] = {}
    unmatched: dict[str, str] = {}
    for step, shape in rendering.shapes.items():
        task = tasks.get(step)
        # The one lookup names no task for a repeated marker: say so before "missing".
        if step in repeated:
            unmatched[step] = STEP_REPEATED.format(count=len(repeated[step]))
        elif task is None:
            unmatched[step] = STEP_MISSING
        elif task.command_line is None:
            unmatched[step] = COMMAND_MISSING
        else:
            try:
                diffs = differences(shape, read_shape(task.command_line, environments))
            except Refusal as exc:
                unmatched[step] = str(exc)
                continue
            if diffs:
                unmatched[step] = COMMAND_DIFFERS.format(
                    expected=shape.line, differences="; ".join(map(str, diffs))
                )
            else:
                shapes[step] = shape
    return Binding(rendering, shapes, unmatched)


def _live_shapes(markdown: str, environments: Sequence[str]) -> dict[str, CommandShape]:
    shapes: dict[str, CommandShape] = {}
    for step, task in tasks_by_marker(markdown).items():
        if task.command_line is not None:
            try:
                shapes[step] = read_shape(task.command_line, environments)
            except Refusal:
                continue
    return shapes
