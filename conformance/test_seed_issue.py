"""The seed issue's shape, as tests/fixtures/rollout_issue_seed.toml writes it, against the seed.

The seed (../shared/reference/rollout-issue-seed.txt) is the rollout issue as users know it,
its markdown lost: text lines, with spaces lost or added where code spans and links were.
Texts are therefore compared with all whitespace removed, in order, section by section.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conformance.conftest import SEED
from flags.definitions import parse
from templates.render import IssueValues, issue_title, render_issue
from tests.issue_shape import command_of, expected, shape, steps

FLAG = "product_intelligence_database_event_tracking"
DEFINITION = Path(__file__).resolve().parent.parent / "config" / "feature_flags" / "development"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def seed() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def fixture() -> dict[str, Any]:
    return expected()


@pytest.fixture(scope="module")
def issue(fixture: dict[str, Any]) -> str:
    path = DEFINITION / f"{FLAG}.yml"
    definition, problems = parse(str(path), path.read_text(encoding="utf-8"))
    assert definition is not None, problems
    return render_issue(IssueValues.from_definition(definition, **fixture["values"]))


def section_lines(seed: list[str], fixture: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Each section's title and the seed lines under it, found in the fixture's order."""
    starts: list[int] = []
    for section in fixture["sections"]:
        start = seed.index(section["title"], starts[-1] + 1 if starts else 0)
        starts.append(start)
    ends = [*starts[1:], len(seed)]
    return [
        (section["title"], seed[start + 1 : end])
        for section, start, end in zip(fixture["sections"], starts, ends, strict=True)
    ]


def test_the_title_is_the_seeds(seed: list[str], fixture: dict[str, Any]) -> None:
    assert fixture["title"] == seed[0] == issue_title(FLAG)


def test_the_values_are_the_seeds(seed: list[str], fixture: dict[str, Any]) -> None:
    text = squash("\n".join(seed))
    for name, value in fixture["values"].items():
        written = ",".join(value) if isinstance(value, list) else value
        assert squash(written) in text, name


def test_every_section_title_is_a_seed_line_in_order(
    seed: list[str], fixture: dict[str, Any]
) -> None:
    titles = [title for title, _ in section_lines(seed, fixture)]
    assert titles == [section["title"] for section in fixture["sections"]]
    assert len(titles) == 13


def test_every_step_and_command_is_in_its_seed_section_in_order(
    seed: list[str], fixture: dict[str, Any]
) -> None:
    for (title, lines), section in zip(
        section_lines(seed, fixture), fixture["sections"], strict=True
    ):
        text, cursor = squash("\n".join(lines)), 0
        for step in section["steps"]:
            for part in (step["text"], step["command"]):
                if part is None:
                    continue
                found = text.find(squash(part), cursor)
                assert found >= 0, f"{title}: {part!r} not in the seed here, after the last"
                cursor = found + len(squash(part))


def test_the_commands_are_the_seeds_every_one(seed: list[str], fixture: dict[str, Any]) -> None:
    ours = [s["command"] for x in fixture["sections"] for s in x["steps"] if s["command"]]
    theirs = [line.strip() for line in seed if "/chatops run" in line]
    assert ours == theirs and len(theirs) == 14


def test_the_rendered_issue_carries_every_seed_command(seed: list[str], issue: str) -> None:
    commands = [line.strip() for line in seed if "/chatops run" in line]
    carried = {command_of(issue, step) for step in steps(issue)}
    for command in commands:
        assert command in issue
        assert command in carried, f"no step carries {command!r}"


def test_every_seed_section_title_is_a_rendered_heading(
    seed: list[str], fixture: dict[str, Any], issue: str
) -> None:
    headings = [section["title"] for section in shape(issue)]
    for section in fixture["sections"]:
        assert section["title"] in seed
        assert section["title"] in headings
