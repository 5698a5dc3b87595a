"""The seed's issue, adopted: every command the seed shows is recognised as its step.

tests/fixtures/adoption/seed.md is the seed's issue in markdown as a team has it now (boxes
ticked, a step deleted, one reworded, the group-actor command edited to another flag). Here it
is held to the seed text: it keeps the seed's commands but those two, and adopting it places
every command it kept.
"""

from __future__ import annotations

from pathlib import Path

from conformance.conftest import SEED
from templates.adoption import adopt

FLAG = "product_intelligence_database_event_tracking"
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "adoption" / "seed.md"
ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")
EDITED = (
    f"/chatops run feature set --group=gitlab-org,gitlab-com {FLAG} true",  # to another flag
    f"/chatops run feature set --user=<your-username> {FLAG} true",  # the step deleted
)


def seed_commands() -> list[str]:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip().startswith("/chatops run ")]


def test_the_fixture_keeps_the_seeds_commands_but_its_two_edits() -> None:
    fixture = FIXTURE.read_text(encoding="utf-8")
    commands = seed_commands()
    assert len(commands) == 14
    for command in commands:
        assert (f"`{command}`" in fixture or f"\n    {command}\n" in fixture) == (
            command not in EDITED
        ), command


def test_adopting_it_places_every_command_it_kept() -> None:
    adoption = adopt(FLAG, FIXTURE.read_text(encoding="utf-8"), ENVIRONMENTS)
    placed = [p.command_line for p in adoption.placed if p.command_line is not None]
    assert sorted(placed) == sorted(c for c in seed_commands() if c not in EDITED)
