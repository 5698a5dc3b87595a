"""The rollout issue's shape as plain data: sections, their steps, the commands steps carry.

`tests/fixtures/rollout_issue_seed.toml` writes down the seed issue's shape (our own
data, so the suite runs without the public reference data); `shape()` reads the same
from a rendered issue, so tests compare two values. conformance/test_seed_issue.py holds
the fixture to the seed.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, NamedTuple

from tests.conftest import FIXTURES

SEED_SHAPE = FIXTURES / "rollout_issue_seed.toml"

STEP_LINE = re.compile(r"^(?P<indent> *)- \[ \] <!-- step:(?P<id>[^ ]*) --> (?P<text>\S.*)$")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^(?P<hashes>#{2,3}) (?P<title>.+)$")
# A link whose URL is not known yet renders as " (`<placeholder>`)"; the seed had a link there.
PLACEHOLDER_LINK = re.compile(r" \(`<[a-z-]+>`\)")
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


class Step(NamedTuple):
    line: int
    indent: int
    id: str
    text: str


def steps(issue: str) -> list[Step]:
    found = []
    for number, line in enumerate(issue.split("\n")):
        match = STEP_LINE.match(line)
        if match:
            found.append(Step(number, len(match["indent"]), match["id"], match["text"]))
    return found


def command_of(issue: str, step: Step) -> str | None:
    """The command a step carries: its only code span, or the fenced block under it."""
    if step.id == "rollback":
        lines = issue.split("\n")
        fence = " " * (step.indent + 4) + "```"
        assert lines[step.line + 1] == fence and lines[step.line + 3] == fence
        return lines[step.line + 2].strip()
    spans = CODE_SPAN.findall(step.text)
    if step.text.startswith("`/chatops run ") and len(spans) == 1:
        return str(spans[0])
    return None


def plain(text: str) -> str:
    """A step's text as a reader sees it: link texts, code without backticks."""
    return LINK.sub(r"\1", PLACEHOLDER_LINK.sub("", text)).replace("`", "")


def expected() -> dict[str, Any]:
    """The fixture, every step spelled out in full (depth 0 and no command by default)."""
    with SEED_SHAPE.open("rb") as file:
        data = tomllib.load(file)
    data["sections"] = [
        {
            "title": section["title"],
            "level": section["level"],
            "steps": [{"depth": 0, "command": None, **step} for step in section.get("steps", [])],
        }
        for section in data["sections"]
    ]
    return data


def shape(issue: str) -> list[dict[str, Any]]:
    """The rendered issue's sections, in the fixture's terms.

    A step whose only content is a command code span is the command of the step it is
    nested under (four spaces less); the rollback step carries its fenced command itself.
    """
    sections: list[dict[str, Any]] = []
    found = {step.line: step for step in steps(issue)}
    for number, line in enumerate(issue.split("\n")):
        heading = HEADING.match(line)
        if heading:
            sections.append({"title": heading["title"], "level": len(heading["hashes"])})
            sections[-1]["steps"] = []
            continue
        step = found.get(number)
        if step is None:
            continue
        assert sections, f"step {step.id} before any heading"
        listed: list[dict[str, Any]] = sections[-1]["steps"]
        command = command_of(issue, step)
        if command is not None and step.id != "rollback":
            parent = listed[-1]
            assert parent["depth"] * 4 == step.indent - 4 and parent["command"] is None, step
            parent["command"] = command
            continue
        listed.append({"depth": step.indent // 4, "command": command, "text": plain(step.text)})
    return sections
