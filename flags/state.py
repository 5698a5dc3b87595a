"""The gate values of one flag in one environment, and the pure transitions on them.

Flipper's model (https://www.flippercloud.io/docs/features): a feature is on
for an actor when any gate opens. Enabling the boolean gate clears the others;
disabling it clears everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

GATES = ("boolean", "actors", "percentage_of_actors", "percentage_of_time", "groups")
State = Literal["on", "off", "conditional"]


class InvalidOperation(Exception):
    """A transition Flipper or GitLab refuses; the message is shown to the user."""


@dataclass(frozen=True)
class FlagState:
    boolean: bool = False
    actors: frozenset[str] = field(default_factory=frozenset)
    percentage_of_actors: float = 0
    percentage_of_time: float = 0
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def state(self) -> State:
        if self.boolean:
            return "on"
        if self.actors or self.groups or self.percentage_of_actors or self.percentage_of_time:
            return "conditional"
        return "off"

    def gates(self) -> dict[str, Any]:
        """Gate values as plain JSON-ready data, in GATES order."""
        return {
            "boolean": self.boolean,
            "actors": sorted(self.actors),
            "percentage_of_actors": _number(self.percentage_of_actors),
            "percentage_of_time": _number(self.percentage_of_time),
            "groups": sorted(self.groups),
        }

    @classmethod
    def from_gates(cls, gates: dict[str, Any]) -> FlagState:
        return cls(
            boolean=bool(gates.get("boolean", False)),
            actors=frozenset(gates.get("actors", ())),
            percentage_of_actors=float(gates.get("percentage_of_actors", 0)),
            percentage_of_time=float(gates.get("percentage_of_time", 0)),
            groups=frozenset(gates.get("groups", ())),
        )


OFF = FlagState()
ON = FlagState(boolean=True)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def default_state(default_enabled: bool) -> FlagState:
    return ON if default_enabled else OFF


def enable(state: FlagState) -> FlagState:
    return ON


def disable(state: FlagState) -> FlagState:
    return OFF


def enable_actors(state: FlagState, actors: frozenset[str]) -> FlagState:
    return replace(state, actors=state.actors | actors)


def disable_actors(state: FlagState, actors: frozenset[str]) -> FlagState:
    return replace(state, actors=state.actors - actors)


def enable_groups(state: FlagState, groups: frozenset[str]) -> FlagState:
    return replace(state, groups=state.groups | groups)


def disable_groups(state: FlagState, groups: frozenset[str]) -> FlagState:
    return replace(state, groups=state.groups - groups)


def set_percentage_of_actors(state: FlagState, percentage: float) -> FlagState:
    if state.boolean:
        raise InvalidOperation(
            "cannot set a percentage of actors on a fully enabled flag; "
            "disable it first or use feature delete"
        )
    return replace(state, percentage_of_actors=percentage)


def set_percentage_of_time(state: FlagState, percentage: float) -> FlagState:
    if state.boolean:
        raise InvalidOperation(
            "cannot set a percentage of time on a fully enabled flag; "
            "disable it first or use feature delete"
        )
    return replace(state, percentage_of_time=percentage)


def changed_gates(before: FlagState, after: FlagState) -> list[tuple[str, Any, Any]]:
    """(gate, before, after) for every gate whose value differs."""
    old, new = before.gates(), after.gates()
    return [(gate, old[gate], new[gate]) for gate in GATES if old[gate] != new[gate]]
