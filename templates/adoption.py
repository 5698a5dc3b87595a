"""Adopting a rollout issue opened by hand: which task is which step, and the markers to add.

Why: teams already have rollout issues, opened by hand from GitLab's ``Feature Flag
Roll Out`` template in one of its versions, filled in and edited since. Adoption makes
such an issue a control panel like the ones the bot opens: each task the bot can tell
for one of the template's steps gets that step's hidden marker (`templates.markers`),
and each command step the shape the template gives it (`templates.step_shapes`), so a
tick obeys the same rules. The description belongs to the people who wrote it, so
nothing but the markers is inserted: remove them and the text is byte for byte what
it was (line endings, trailing spaces, indentation, everything).

How a task is told for a step:
- a command (``/chatops run ...`` in the task's code span or fenced block) by its
  shape: it must be the shape of one of the template's command steps, or of a step of
  older templates (`OLDER_COMMAND_STEPS`: ``--dev`` and ``--staging`` on lines of their
  own), with the slots filled by values of their type. Older placeholder names read as
  today's (`OLDER_PLACEHOLDERS`). Where several steps share a shape (the two
  ``auto_deploy status`` steps), the one under the task's placed parent wins, else the
  first still free in template order;
- a task without a command by its text, compared with the template's step texts once
  links, emphasis and code marks are gone (`templates.step_texts`), the
  closest pairs first; equal texts pair up in document order.

A command naming another flag, and a task the bot cannot tell for a step, get no
marker: they never run, and the adoption lists them. A ``/chatops run`` line outside
any task (an older template's rollback block, below its list item) is listed too.
Ticked boxes are reported as done: adding a marker to a ticked box is no tick, so
nothing runs. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flags.errors import Refusal
from templates.adoption_report import AdoptionReport, Inert, Placed
from templates.markers import STEP_MARKER, marker
from templates.render import ISSUE_COMMAND_STEP_IDS, IssueValues
from templates.step_binding import Rendering, recover_values, render_with_shapes
from templates.step_shapes import CommandShape, differences, read_shape
from templates.step_texts import FLAG_PLACEHOLDER, place_texts
from templates.steps import StepIndex, step_index
from templates.tasklist import COMMAND_PREFIX, Task, locate_tasks

__all__ = [
    "OLDER_COMMAND_STEPS",
    "OLDER_PLACEHOLDERS",
    "Adoption",
    "Inert",
    "Placed",
    "adopt",
    "flag_from_title",
    "remove_markers",
]

TITLE = re.compile(r"\s*\[Feature flag\]\s+Rollout of\s+`(?P<flag>[^`\s]+)`\s*", re.IGNORECASE)
"""GitLab's rollout issue title: ``[Feature flag] Rollout of `NAME` ``."""

OLDER_PLACEHOLDERS = {
    "<merge-commit-of-your-feature>": "<merge-commit-sha>",
}
"""Placeholders of older template versions, by today's name for the same slot."""

_NON_PRODUCTION = "enable-non-production"
OLDER_COMMAND_STEPS = {
    "enable-dev-command": ("feature set {flag} true --dev", _NON_PRODUCTION),
    "enable-staging-command": ("feature set {flag} true --staging", _NON_PRODUCTION),
    "enable-staging-ref-command": (
        "feature set {flag} true --staging-ref",
        "enable-non-production",
    ),
    "cleanup-delete-dev-command": ("feature delete {flag} --dev", "cleanup-delete"),
    "cleanup-delete-staging-command": ("feature delete {flag} --staging", "cleanup-delete"),
    "cleanup-delete-production-command": ("feature delete {flag}", "cleanup-delete"),
}
"""Commands of older template versions that today's template has as one line: each step
with its command and the step it sits under."""

# Why a line is left inert: user-facing, listed in the adoption comment.
OTHER_FLAG = "names the flag `{other}`, not this issue's"
UNKNOWN_COMMAND = "the command is none of the template's steps"
STEP_TAKEN = "its step `{step}` is already on line {line}"
UNKNOWN_TEXT = "no step of the template reads like it"
OUTSIDE_TASK = "the command has no checkbox"
ALREADY_MARKED = (
    "the description already carries step markers the bot would not write "
    "({markers}); remove them, then adopt the issue again"
)


def flag_from_title(title: str) -> str | None:
    """The flag a rollout issue's title names, or None when it is not such a title."""
    found = TITLE.fullmatch(title)
    return None if found is None else found.group("flag")


@dataclass(frozen=True)
class Adoption:
    """What adopting a description does: the marked text and what became of each task."""

    flag: str
    text: str
    """The description with the markers inserted; the description itself when unchanged."""
    changed: bool
    """False when `text` already carried exactly these markers (an adoption written before)."""
    placed: tuple[Placed, ...]
    inert: tuple[Inert, ...]
    rendering: Rendering
    """The template rendered with the values the issue's commands show."""
    shapes: Mapping[str, CommandShape] = field(default_factory=dict)
    """The shape each placed command step may run."""

    @property
    def ticked(self) -> tuple[Placed, ...]:
        """Steps whose box was ticked already: recorded as done, never run."""
        return tuple(p for p in self.placed if p.ticked)

    def report(self) -> AdoptionReport:
        return AdoptionReport(
            self.flag,
            self.placed,
            self.inert,
            self.missing,
            tuple(p.step for p in self.no_command),
        )

    @property
    def no_command(self) -> tuple[Placed, ...]:
        """Placed steps the template gives a command that the task does not hold."""
        return tuple(
            p for p in self.placed if p.step in ISSUE_COMMAND_STEP_IDS and p.command_line is None
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """The template's command steps the issue does not have (deleted or unrecognised)."""
        have = {p.step for p in self.placed}
        # An older template's separate lines stand for today's one line under the same step.
        have |= {OLDER_COMMAND_STEPS[s][1] + "-command" for s in have if s in OLDER_COMMAND_STEPS}
        return tuple(s for s in self.rendering.shapes if s not in have)


_INSERTED = re.compile(r"(?<=\[[ xX~]\][ \t])<!-- step:[a-z0-9][a-z0-9-]* --> ")


def remove_markers(text: str) -> str:
    """The text without the markers `adopt` inserts, exactly as they were inserted."""
    return _INSERTED.sub("", text)


def adopt(flag: str, text: str, environments: Sequence[str]) -> Adoption:
    """Tell each task of a hand-made rollout issue for a step, and mark it.

    A description that already holds the very markers this would insert (an earlier
    adoption whose record was lost) is left as it is (`changed` False); one with other
    markers is refused (`flags.errors.Refusal`), since they could name wrong steps.
    """
    original = remove_markers(text)
    if STEP_MARKER.search(original):
        raise Refusal(ALREADY_MARKED.format(markers=_markers_in(original)))
    located = locate_tasks(original)
    tasks = [task for task, _ in located]
    defaults = render_with_shapes(IssueValues(flag_name=flag), environments)
    template = step_index(defaults.markdown)
    steps = place_texts(flag, tasks, template.unique)
    taken = {step: index for index, step in steps.items()}
    parents = _parent_steps(template)
    commands = {**defaults.shapes, **_older_shapes(flag, environments)}
    inert: list[Inert] = []
    found: dict[int, CommandShape] = {}
    for index, task in enumerate(tasks):
        if task.command_line is None:
            continue
        try:
            shape = read_shape(_with_today_placeholders(task.command_line, flag), environments)
        except Refusal as exc:
            inert.append(Inert(task.line + 1, task.command_line, str(exc)))
            continue
        if shape.flag is not None and shape.flag != flag:
            reason = OTHER_FLAG.format(other=shape.flag)
            inert.append(Inert(task.line + 1, task.command_line, reason, other_flag=True))
            continue
        fitting = [step for step, expected in commands.items() if not differences(expected, shape)]
        free = [step for step in fitting if step not in taken]
        if not free:
            reason = UNKNOWN_COMMAND
            if fitting:
                reason = STEP_TAKEN.format(step=fitting[0], line=tasks[taken[fitting[0]]].line + 1)
            inert.append(Inert(task.line + 1, task.command_line, reason))
            continue
        parent = steps.get(task.parent) if task.parent is not None else None
        step = next((s for s in free if parent is not None and parents.get(s) == parent), free[0])
        steps[index], taken[step], found[index] = step, index, shape
    for index, task in enumerate(tasks):
        if index not in steps and task.command_line is None:
            inert.append(Inert(task.line + 1, task.text or "(empty)", UNKNOWN_TEXT))
    inert += _commands_outside_tasks(original, tasks)

    marked = _insert(original, located, steps)
    if text != original and marked != text:
        raise Refusal(ALREADY_MARKED.format(markers=_markers_in(text)))
    rendering = render_with_shapes(recover_values(flag, marked, environments), environments)
    return Adoption(
        flag=flag,
        text=marked,
        changed=marked != text,
        placed=tuple(
            Placed(step, tasks[i].line + 1, tasks[i].text, tasks[i].checked, tasks[i].command_line)
            for i, step in sorted(steps.items())
        ),
        inert=tuple(sorted(inert, key=lambda item: item.line)),
        rendering=rendering,
        shapes={
            steps[index]: _shape_for(steps[index], shape, rendering, commands)
            for index, shape in found.items()
        },
    )


def _markers_in(text: str) -> str:
    return ", ".join(f"`<!-- step:{m} -->`" for m in sorted(set(STEP_MARKER.findall(text))))


# --- telling tasks for steps --------------------------------------------------------------


def _with_today_placeholders(line: str, flag: str) -> str:
    for older, today in OLDER_PLACEHOLDERS.items():
        line = line.replace(older, today)
    return line.replace(FLAG_PLACEHOLDER, flag)


def _older_shapes(flag: str, environments: Sequence[str]) -> dict[str, CommandShape]:
    return {
        step: read_shape(command.format(flag=flag), environments)
        for step, (command, _) in OLDER_COMMAND_STEPS.items()
    }


def _parent_steps(template: StepIndex) -> dict[str, str]:
    """Each step of the template with the step it sits under; older steps under theirs."""
    parents = {
        task.marker: parent.marker
        for task in template.tasks
        if task.marker is not None
        and task.parent is not None
        and (parent := template.tasks[task.parent]).marker is not None
    }
    return parents | {step: parent for step, (_, parent) in OLDER_COMMAND_STEPS.items()}


def _shape_for(
    step: str,
    shape: CommandShape,
    rendering: Rendering,
    defaults: Mapping[str, CommandShape],
) -> CommandShape:
    """The template's shape with the values the issue shows (pinned, as `bind` pins them),
    or, should the line not have it, the shape with the template's slots."""
    rendered = rendering.shapes.get(step)
    if rendered is not None and not differences(rendered, shape):
        return rendered
    return defaults[step]


def _commands_outside_tasks(text: str, tasks: Sequence[Task]) -> list[Inert]:
    """``/chatops run`` lines that are no task's command: nothing can ever tick them."""
    own = {task.command_line.strip() for task in tasks if task.command_line is not None}
    task_lines = {task.line for task in tasks}
    inert: list[Inert] = []
    for number, line in enumerate(re.split(r"\r\n?|\n", text)):
        at = line.find(COMMAND_PREFIX)
        if at < 0 or number in task_lines:
            continue
        command = line[at:].strip().strip("`").strip()
        if command not in own:
            inert.append(Inert(number + 1, command, OUTSIDE_TASK))
    return inert


# --- writing the markers ------------------------------------------------------------------


def _insert(text: str, located: Sequence[tuple[Task, int]], steps: Mapping[int, str]) -> str:
    """Each placed task's marker right after its checkbox; nothing else changes.

    After ``[ ]`` and the blank that follows it goes ``<!-- step:ID --> ``: a placed task
    has text after its box (a box at the end of its line has none to be told by).
    Inserted from the end, so the offsets found before still hold.
    """
    marked = text
    for index in sorted(steps, reverse=True):
        at = located[index][1] + 3  # past "]" and the blank after it
        marked = marked[:at] + marker(steps[index]) + " " + marked[at:]
    _check(marked, located, steps)
    return marked


def _check(marked: str, located: Sequence[tuple[Task, int]], steps: Mapping[int, str]) -> None:
    """The marked text has the same tasks, each placed one carrying its marker once."""
    index = step_index(marked)
    expected = [(task.line, steps.get(i)) for i, (task, _) in enumerate(located)]
    if [(task.line, task.marker) for task in index.tasks] != expected or index.duplicates:
        raise Refusal("inserting the step markers would change the issue's task list")
