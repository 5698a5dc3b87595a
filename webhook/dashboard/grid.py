"""The flags grid as data: every flag by every environment, pure (no I/O).

The same rows feed the HTML grid and `/api/flags`, so a program and a person
read one answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flags.commands import STAGING
from flags.definitions import Definition, Registry
from flags.environments import PRODUCTION
from flags.results import EnvironmentState
from flags.state import default_state
from flags.store import AuditRecord, Snapshot
from templates.state_note import state_phrase
from webhook.dashboard.when import When, when

INCONSISTENT = (
    "{production} on production while staging is off: staging leads production "
    "(the consistency check)"
)


@dataclass(frozen=True)
class Cell:
    environment: str
    state: str  # on | off | conditional, for styling
    phrase: str  # off, on, 25% of actors, actors on: ...; "(default)" when never set
    is_default: bool
    gates: dict[str, Any]


@dataclass(frozen=True)
class FlagRow:
    name: str
    definition: Definition | None
    cells: tuple[Cell, ...]
    last_change: AuditRecord | None
    last_change_when: When | None
    issue_url: str | None
    inconsistency: str | None

    def as_dict(self) -> dict[str, Any]:
        definition = self.definition
        return {
            "name": self.name,
            "defined": definition is not None,
            "type": definition.type if definition else None,
            "group": definition.group if definition else None,
            "milestone": definition.milestone if definition else None,
            "default_enabled": definition.default_enabled if definition else None,
            "states": {
                cell.environment: {
                    "state": cell.state,
                    "text": cell.phrase,
                    "default": cell.is_default,
                    "gates": cell.gates,
                }
                for cell in self.cells
            },
            "last_change": self.last_change.as_dict() if self.last_change else None,
            "rollout_issue_url": self.issue_url,
            "inconsistency": self.inconsistency,
        }


def environment_states(
    snapshot: Snapshot, name: str, definition: Definition | None, environments: Sequence[str]
) -> list[EnvironmentState]:
    default = default_state(bool(definition and definition.default_enabled))
    states = []
    for environment in environments:
        stored = snapshot.get(environment, name)
        states.append(EnvironmentState(environment, stored or default, stored is None))
    return states


def inconsistency(states: Sequence[EnvironmentState]) -> str | None:
    """The consistency rule's breach, if any: production not off while staging is off."""
    by_env = {s.environment: s.state.state for s in states}
    if STAGING not in by_env or PRODUCTION not in by_env:
        return None
    if by_env[STAGING] == "off" and by_env[PRODUCTION] != "off":
        how = "fully" if by_env[PRODUCTION] == "on" else "partly"
        return INCONSISTENT.format(production=how)
    return None


def flag_row(
    name: str,
    definition: Definition | None,
    snapshot: Snapshot,
    environments: Sequence[str],
    last_change: AuditRecord | None,
    issue_url: str | None,
    now: dt.datetime,
) -> FlagRow:
    states = environment_states(snapshot, name, definition, environments)
    cells = tuple(
        Cell(
            environment=s.environment,
            state=s.state.state,
            phrase=state_phrase(s, defined=definition is not None),
            is_default=s.is_default,
            gates=s.state.gates(),
        )
        for s in states
    )
    return FlagRow(
        name=name,
        definition=definition,
        cells=cells,
        last_change=last_change,
        last_change_when=when(last_change.at, now) if last_change else None,
        issue_url=issue_url or (definition.rollout_issue_url if definition else None),
        inconsistency=inconsistency(states),
    )


def grid(
    registry: Registry,
    snapshot: Snapshot,
    environments: Sequence[str],
    last_changes: Mapping[str, AuditRecord],
    issue_urls: Mapping[str, str],
    now: dt.datetime,
    match: str = "",
) -> list[FlagRow]:
    """Every defined flag, and every flag with a stored state but no definition, by name;
    `match` keeps the names containing it (case-insensitive), as `feature list --match`."""
    stored = {name for states in snapshot.states.values() for name in states}
    names = sorted(set(registry.names()) | stored)
    needle = match.strip().lower()
    return [
        flag_row(
            name,
            registry.get(name),
            snapshot,
            environments,
            last_changes.get(name),
            issue_urls.get(name),
            now,
        )
        for name in names
        if needle in name.lower()
    ]
