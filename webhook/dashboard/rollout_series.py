"""A flag's rollout over time, per environment, replayed from its audit rows.

Each audit row changes one gate (or, with gate "all", the whole state: a delete back
to the default, or a move between "set" and "default"), so replaying them oldest
first gives the state after every row. The chart shows it as one number, the
effective percentage: 100 when the boolean gate is on, else the larger of the
percentage gates; explicit actors and feature groups have no percentage and show
as a marker. One point per audit row, so the chart and `feature history --json`
say the same thing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flags.state import FlagState, default_state
from flags.store import AuditRecord
from webhook.dashboard.when import aware

ALL_GATES = "all"


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    percent: float  # effective percentage after the change
    targets: int  # actors and feature groups enabled one by one
    audit_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "percent": self.percent,
            "targets": self.targets,
            "audit_id": self.audit_id,
        }


@dataclass(frozen=True)
class Series:
    environment: str
    initial: Point  # the default, before the first recorded change
    points: tuple[Point, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "initial_percent": self.initial.percent,
            "points": [point.as_dict() for point in self.points],
        }


def _percent(value: Any) -> float:
    if isinstance(value, bool):
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(number, 0.0), 100.0) if math.isfinite(number) else 0.0


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(str(item) for item in value if isinstance(item, str | int))


def readable_state(gates: Mapping[str, Any]) -> FlagState:
    """`FlagState.from_gates` for audit JSON of any shape.

    Audit rows outlive the code that wrote them (older versions, other tools on the
    same tables, a hand repair), so a gate value no command writes (null, "abc",
    "NaN", a list of numbers) reads as that gate off instead of failing the page;
    the timeline still shows the value as stored.
    """
    return FlagState(
        boolean=gates.get("boolean") is True,
        actors=_names(gates.get("actors")),
        percentage_of_actors=_percent(gates.get("percentage_of_actors", 0)),
        percentage_of_time=_percent(gates.get("percentage_of_time", 0)),
        groups=_names(gates.get("groups")),
    )


def effective_percent(state: FlagState) -> float:
    if state.boolean:
        return 100.0
    return float(max(state.percentage_of_actors, state.percentage_of_time))


def apply_row(gates: dict[str, Any], record: AuditRecord, default: FlagState) -> dict[str, Any]:
    """The gates after one audit row; a delete (gate `all`, nothing after) is the default."""
    if record.gate == ALL_GATES:
        after = record.after if isinstance(record.after, dict) else None
        return dict(after) if after is not None else default.gates()
    return {**gates, record.gate: record.after}


def _point(gates: dict[str, Any], at: dt.datetime, audit_id: int | None) -> Point:
    state = readable_state(gates)
    return Point(
        at=at,
        percent=effective_percent(state),
        targets=len(state.actors) + len(state.groups),
        audit_id=audit_id,
    )


def replay(
    records: Iterable[AuditRecord],
    environments: Sequence[str],
    *,
    default_enabled: bool,
    start: dt.datetime,
) -> list[Series]:
    """One series per environment (in `environments` order, then any other found)."""
    default = default_state(default_enabled)
    ordered = sorted(records, key=lambda r: (aware(r.at), r.id or 0))
    names = list(environments) + sorted({r.environment for r in ordered} - set(environments))
    series = []
    for environment in names:
        gates = default.gates()
        initial = _point(gates, start, None)
        points = []
        for record in ordered:
            if record.environment != environment:
                continue
            gates = apply_row(gates, record, default)
            points.append(_point(gates, aware(record.at), record.id))
        series.append(Series(environment, initial, tuple(points)))
    return series
