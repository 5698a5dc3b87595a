"""The Features API calls that take a flag from one state to another, and its gates read back.

Pure: no I/O. GitLab's `POST /features/:name` (https://docs.gitlab.com/api/features/)
sets one thing per call: `value=true|false` for the boolean gate (false clears every
gate, Flipper's `disable`), `true|false` with targets (`user`, `group`, `project`,
`namespace`, comma-separated paths; `feature_group`, one name) to add or remove actors,
and a number with `key=percentage_of_actors|percentage_of_time`. `value=0` means
`false` there, so a percentage cannot be taken back alone: the plan clears the flag and
sets again what should stay. `DELETE /features/:name` forgets the flag (its definition's
default applies again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flags.state import OFF, FlagState

# Flipper actor ids (`Project:12`) by the Features API parameter that names them.
ACTOR_PARAMS = {"User": "user", "Group": "group", "Project": "project", "Namespace": "namespace"}


@dataclass(frozen=True)
class Call:
    """One request: `delete`, or `set` with `value` and its parameters."""

    verb: str  # "set" or "delete"
    value: str = ""
    key: str | None = None
    feature_group: str | None = None
    # Flipper ids by parameter: {"project": ("Project:12",)}; the caller sends paths.
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _targets(actors: frozenset[str]) -> dict[str, tuple[str, ...]]:
    by_param: dict[str, list[str]] = {}
    for actor in sorted(actors):
        kind = actor.split(":", 1)[0]
        param = ACTOR_PARAMS.get(kind)
        if param is None:
            raise ValueError(f"the Features API cannot name the actor {actor}")
        by_param.setdefault(param, []).append(actor)
    return {param: tuple(ids) for param, ids in by_param.items()}


def plan(current: FlagState | None, target: FlagState | None) -> list[Call]:
    """The calls from `current` (None: never set) to `target` (None: forgotten)."""
    if target is None:
        return [] if current is None else [Call("delete")]
    if current == target:
        return []
    if target.boolean:
        return [Call("set", "true")]
    if target == OFF:
        return [Call("set", "false")]
    base = current or OFF
    calls: list[Call] = []
    lost_percentage = (base.percentage_of_actors and not target.percentage_of_actors) or (
        base.percentage_of_time and not target.percentage_of_time
    )
    if base.boolean or lost_percentage:
        calls.append(Call("set", "false"))
        base = OFF
    gone = base.actors - target.actors
    if gone:
        calls.append(Call("set", "false", targets=_targets(gone)))
    for group in sorted(base.groups - target.groups):
        calls.append(Call("set", "false", feature_group=group))
    added = target.actors - base.actors
    if added:
        calls.append(Call("set", "true", targets=_targets(added)))
    for group in sorted(target.groups - base.groups):
        calls.append(Call("set", "true", feature_group=group))
    for key in ("percentage_of_actors", "percentage_of_time"):
        wanted = getattr(target, key)
        if wanted and wanted != getattr(base, key):
            calls.append(Call("set", _number(wanted), key=key))
    return calls


def state_from_gates(gates: Sequence[Mapping[str, Any]]) -> FlagState:
    """A feature's `gates` as `GET /features` lists them (`[{"key": ..., "value": ...}]`)."""
    values = {str(gate.get("key")): gate.get("value") for gate in gates}
    return FlagState.from_gates(
        {
            "boolean": values.get("boolean") is True,
            "actors": values.get("actors") or (),
            "groups": values.get("groups") or (),
            "percentage_of_actors": values.get("percentage_of_actors") or 0,
            "percentage_of_time": values.get("percentage_of_time") or 0,
        }
    )
