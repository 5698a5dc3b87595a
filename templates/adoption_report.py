"""What an adoption did, as data the bot records and as the comment it posts.

Kept apart from `templates.adoption` (which tells tasks for steps) because the record
outlives the text: the bot stores the report with the adopted issue, and a retried
`/rollout-bot adopt` renders its comment again from what was stored. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from templates.render import Markdown, render
from templates.tasklist import COMMAND_PREFIX

__all__ = ["AdoptionReport", "Inert", "Placed", "adoption_comment", "already_adopted"]

TEXT_LIMIT = 200
"""A listed line is cut to this many characters: the comment lists, the issue holds."""

ALREADY_ADOPTED = (
    "{who}: this issue is already a rollout issue of `{flag}`, so adopting it again changed "
    "nothing."
)


@dataclass(frozen=True)
class Placed:
    """A task told for a step: it gets the step's marker."""

    step: str
    line: int  # from 1, as a person counts
    text: str
    ticked: bool
    command_line: str | None = None


@dataclass(frozen=True)
class Inert:
    """A line left without a marker, and why: it never runs."""

    line: int  # from 1
    text: str
    reason: str
    other_flag: bool = False


@dataclass(frozen=True)
class AdoptionReport:
    """The adoption's outcome as recorded: which steps, which were done, what stays inert."""

    flag: str
    placed: tuple[Placed, ...]
    inert: tuple[Inert, ...]
    missing: tuple[str, ...]
    no_command: tuple[str, ...]

    @property
    def ticked(self) -> tuple[Placed, ...]:
        return tuple(p for p in self.placed if p.ticked)

    @property
    def commands(self) -> int:
        return sum(1 for p in self.placed if p.command_line is not None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AdoptionReport:
        return cls(
            flag=data["flag"],
            placed=tuple(Placed(**item) for item in data["placed"]),
            inert=tuple(Inert(**item) for item in data["inert"]),
            missing=tuple(data["missing"]),
            no_command=tuple(data["no_command"]),
        )


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def _shown(text: str, command: bool) -> str:
    """A listed line: a command in a code span (GitLab would take `<x>` for HTML outside
    one); other text as written.

    The fence is one backtick longer than the longest run in the text, so no run inside
    can close the span early and leave the rest (a mention, a link) to act as Markdown;
    the blanks inside it are stripped again by the reader (CommonMark, "Code spans":
    https://spec.commonmark.org/0.31.2/#code-spans)."""
    text = _cut(text)
    if not command:
        return text
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return Markdown(f"{fence}{pad}{text}{pad}{fence}")


def adoption_comment(marker: str, who: str, report: AdoptionReport) -> str:
    """The comment that says what the adoption did: `marker` finds it again on a retry."""
    return render(
        "adoption_comment.md.j2",
        marker=Markdown(marker),
        who=who,
        flag=report.flag,
        count=len(report.placed),
        commands=report.commands,
        ticked=[
            (p.line, _shown(p.command_line or p.text, p.command_line is not None))
            for p in report.ticked
        ],
        foreign=[(i.line, _shown(i.text, True), i.reason) for i in report.inert if i.other_flag],
        unplaced=[
            (i.line, _shown(i.text, i.text.startswith(COMMAND_PREFIX)), i.reason)
            for i in report.inert
            if not i.other_flag
        ],
        no_command=[_shown(step, True) for step in report.no_command],
        missing=[_shown(step, True) for step in report.missing],
    )


def already_adopted(marker: str, who: str, flag: str) -> str:
    return f"{marker}\n{ALREADY_ADOPTED.format(who=who, flag=flag)}\n"
