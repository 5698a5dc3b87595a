"""What a step's command may be: its shape, read from the rendered issue, and how a line differs.

Why: a rollout issue is a control panel anyone with edit rights can retype, so a step
must run only the command the bot rendered for it, not whatever its line says when
someone ticks it. When the bot opens an issue it records, for every step that carries a
command, the command's shape: verb, flag, value, environments, options, targets and
arguments, where a placeholder (`<rollout-percentage>`, `<merge-commit-sha>`, ...) is a
typed slot a person fills in. On a tick the live line must have the same shape, its
slots filled with values of their type; `differences` says, as data, what does not.

Shapes are read from the words of a line (`flags.grammar.tokens`), the same words the
grammar parses, rather than from the parsed command, because the template's own
commands hold placeholders the grammar refuses, and because a slot filled with the wrong
type should be reported with the slot's name. The grammar still parses a line that
matches, with all its own checks. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flags.grammar import PLACEHOLDER, TARGET_KINDS, tokens
from templates.steps import tasks_by_marker
from templates.tasklist import COMMAND_PREFIX

__all__ = [
    "SLOTS",
    "CommandShape",
    "Difference",
    "Slot",
    "differences",
    "read_shape",
    "step_shapes",
    "unknown_placeholders",
]

TARGET_OPTIONS = (*TARGET_KINDS, "feature-group")
"""Options whose value is a comma-separated list of targets (ChatOps allows several)."""


@dataclass(frozen=True)
class Slot:
    """A placeholder of the template and the values that may fill it."""

    placeholder: str
    takes: str  # user-facing: what a person may write there
    pattern: re.Pattern[str]
    maximum: float | None = None  # for numbers

    def accepts(self, value: str) -> bool:
        if self.pattern.fullmatch(value) is None:
            return False
        return self.maximum is None or float(value) <= self.maximum


_PATH = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
SLOTS: dict[str, Slot] = {
    slot.placeholder: slot
    for slot in (
        # The grammar's percentage: digits with an optional decimal part, 0 to 100.
        Slot("<rollout-percentage>", "a number from 0 to 100", re.compile(r"\d+(\.\d+)?"), 100),
        Slot(
            "<merge-commit-sha>",
            "a commit SHA of 7 to 40 hexadecimal digits",
            re.compile(r"[0-9a-fA-F]{7,40}"),
        ),
        Slot(
            "<merge-request-url>",
            "a GitLab merge request URL, such as "
            "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1",
            re.compile(rf"https?://[^\s/?#]+(/{_PATH})+/-/merge_requests/\d+/?"),
        ),
        Slot("<milestone>", "a milestone such as 17.3", re.compile(r"\d+\.\d+")),
        Slot(
            "<project-path>",
            "a project path such as gitlab-org/gitlab, or its id",
            re.compile(rf"\d+|{_PATH}(/{_PATH})+"),
        ),
        Slot(
            "<group-path>",
            "a group path such as gitlab-org, or its id",
            re.compile(rf"{_PATH}(/{_PATH})*"),
        ),
        Slot("<your-username>", "a GitLab username", re.compile(_PATH)),
    )
}
"""Every placeholder a step's command may hold; a target slot takes a comma-separated list."""


@dataclass(frozen=True)
class CommandShape:
    """The parts of one ChatOps line; in a recorded shape a part may be a slot's placeholder.

    Environments and options are sets (ChatOps does not care about their order), kept
    sorted; ``targets`` maps an option (``project``, ``group``, ...) to its values.
    ``text`` is the line as written, shown to people and never compared.
    """

    verb: str  # "feature set", "auto_deploy status", ...
    flag: str | None = None
    value: str | None = None
    environments: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    targets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    arguments: tuple[str, ...] = ()
    text: str = field(default="", compare=False)

    @property
    def line(self) -> str:
        """The line as written, with `/chatops run ` in front."""
        text = self.text.strip()
        return text if text.startswith(COMMAND_PREFIX) else COMMAND_PREFIX + text

    def to_json(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "flag": self.flag,
            "value": self.value,
            "environments": list(self.environments),
            "options": list(self.options),
            "targets": {kind: list(refs) for kind, refs in self.targets},
            "arguments": list(self.arguments),
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommandShape:
        return cls(
            verb=data["verb"],
            flag=data["flag"],
            value=data["value"],
            environments=tuple(data["environments"]),
            options=tuple(data["options"]),
            targets=tuple((kind, tuple(refs)) for kind, refs in data["targets"].items()),
            arguments=tuple(data["arguments"]),
            text=data["text"],
        )


def read_shape(line: str, environments: Sequence[str]) -> CommandShape:
    """The shape of a ChatOps line, with or without `/chatops run` and its code span.

    `environments` are the configured ones: `--dev` is an environment only if `dev`
    is one. Raises `flags.errors.Refusal` when the line cannot be split into words.
    """
    words = tokens(line)
    text = line.strip().strip("`").strip()
    if not words:
        return CommandShape(verb="", text=text)
    head = words[0].lower()
    if head != "feature" or len(words) < 2:
        return CommandShape(
            verb=" ".join([head, *words[1:2]]), arguments=tuple(words[2:]), text=text
        )
    verb = f"feature {words[1]}"
    positional: list[str] = []
    chosen: set[str] = set()
    options: set[str] = set()
    targets: dict[str, list[str]] = {}
    for word in words[2:]:
        if not word.startswith("--"):
            positional.append(word.strip("`"))  # as the grammar reads a name
            continue
        key, has_value, raw = word[2:].partition("=")
        if key in environments and not has_value:
            chosen.add(key)
        elif key in TARGET_OPTIONS and has_value:
            targets.setdefault(key, []).extend(item.strip() for item in raw.split(","))
        else:
            options.add(word)
    flag = positional.pop(0) if positional and verb != "feature list" else None
    value = positional.pop(0) if positional and verb == "feature set" else None
    if value is not None and value.lower() in ("true", "false"):
        value = value.lower()  # the grammar reads them in any case
    return CommandShape(
        verb=verb,
        flag=flag,
        value=value,
        environments=tuple(env for env in environments if env in chosen),
        options=tuple(sorted(options)),
        targets=tuple((kind, tuple(targets[kind])) for kind in sorted(targets)),
        arguments=tuple(positional),
        text=text,
    )


def step_shapes(markdown: str, environments: Sequence[str]) -> dict[str, CommandShape]:
    """The shape of every marked step's command in a description, by step marker."""
    return {
        step: read_shape(task.command_line, environments)
        for step, task in tasks_by_marker(markdown).items()
        if task.command_line is not None
    }


@dataclass(frozen=True)
class Difference:
    """One part of a line that is not the step's: what the step has there and what the line has.

    ``expected`` None: the line added the part; ``found`` None: the line dropped it.
    ``slot``: the step has a slot there and the line's value is not of its type.
    """

    part: str
    expected: str | None
    found: str | None
    slot: Slot | None = None

    def __str__(self) -> str:
        if self.slot is not None and self.found is not None:
            return (
                f"{self.part} is the slot {self.slot.placeholder}, which takes "
                f"{self.slot.takes}, but the line has `{self.found}`"
            )
        if self.slot is not None:
            return f"{self.part} is missing: the slot {self.slot.placeholder} ({self.slot.takes})"
        if self.expected is None:
            return f"{self.part} `{self.found}` was added"
        if self.found is None:
            return f"{self.part} `{self.expected}` was removed"
        return f"{self.part} is `{self.found}` where the step has `{self.expected}`"


def differences(expected: CommandShape, found: CommandShape) -> list[Difference]:
    """How `found` (a live line) differs from `expected` (a step's shape); empty when it fits.

    A slot is filled by any value of its type, or still holds its placeholder (the
    grammar then asks for a value). Another verb makes every other part moot.
    """
    if expected.verb != found.verb:
        return [Difference("the command", expected.verb, found.verb)]
    diffs = _single("the flag", expected.flag, found.flag)
    diffs += _single("the value", expected.value, found.value)
    diffs += _sets(
        "environment",
        [f"--{env}" for env in expected.environments],
        [f"--{env}" for env in found.environments],
    )
    diffs += _sets("option", expected.options, found.options)
    wanted, given = dict(expected.targets), dict(found.targets)
    for kind in sorted(wanted.keys() | given.keys()):
        diffs += _targets(f"--{kind}", wanted.get(kind), given.get(kind))
    for index in range(max(len(expected.arguments), len(found.arguments))):
        diffs += _single(
            f"argument {index + 1}", _at(expected.arguments, index), _at(found.arguments, index)
        )
    return diffs


def _at(values: tuple[str, ...], index: int) -> str | None:
    return values[index] if index < len(values) else None


def _slot(text: str | None) -> Slot | None:
    return None if text is None else SLOTS.get(text)


def _fits(slot: Slot, value: str) -> bool:
    return value == slot.placeholder or slot.accepts(value)


def _single(part: str, expected: str | None, found: str | None) -> list[Difference]:
    slot = _slot(expected)
    if slot is not None:
        if found is not None and _fits(slot, found):
            return []
        return [Difference(part, expected, found, slot)]
    return [] if expected == found else [Difference(part, expected, found)]


def _sets(part: str, expected: Sequence[str], found: Sequence[str]) -> list[Difference]:
    added = [Difference(part, None, item) for item in found if item not in expected]
    removed = [Difference(part, item, None) for item in expected if item not in found]
    return removed + added


def _targets(
    part: str, expected: tuple[str, ...] | None, found: tuple[str, ...] | None
) -> list[Difference]:
    if expected is None or found is None:
        return [
            Difference(
                part,
                None if expected is None else ",".join(expected),
                None if found is None else ",".join(found),
            )
        ]
    slot = _slot(expected[0]) if len(expected) == 1 else None
    if slot is not None:
        return [
            Difference(part, slot.placeholder, ref, slot) for ref in found if not _fits(slot, ref)
        ]
    if sorted(expected) != sorted(found):
        return [Difference(part, ",".join(expected), ",".join(found))]
    return []


def unknown_placeholders(text: str) -> list[str]:
    """Placeholders in a line that are no known slot: the template's commands must have none."""
    return [found for found in PLACEHOLDER.findall(text) if found not in SLOTS]
