"""What a `feature` command found or did, and its result card (JSON and text).

The bot's comments, the CLI and the remembered runs all show the same card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flags.definitions import Definition
from flags.grammar import FeatureCommand
from flags.state import GATES, FlagState
from flags.store import AuditRecord, environment_label


@dataclass(frozen=True)
class EnvironmentState:
    environment: str
    state: FlagState
    is_default: bool  # never set there: the definition's default applies


@dataclass(frozen=True)
class Change:
    environment: str
    before: EnvironmentState
    after: EnvironmentState

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Result:
    command: FeatureCommand
    definitions: tuple[Definition, ...]
    changes: tuple[Change, ...] = ()  # set and delete
    states: tuple[tuple[str, tuple[EnvironmentState, ...]], ...] = ()  # get and list
    # environment -> the GitLab instance holding its states, for those not in the bot's store
    instances: tuple[tuple[str, str], ...] = ()

    def label(self, environment: str) -> str:
        return environment_label(environment, dict(self.instances).get(environment))


def _instance_json(result: Result, environment: str) -> dict[str, Any]:
    instance = dict(result.instances).get(environment)
    return {} if instance is None else {"instance": instance}


def _state_json(env_state: EnvironmentState, result: Result) -> dict[str, Any]:
    return {
        "state": env_state.state.state,
        "default": env_state.is_default,
        "gates": env_state.state.gates(),
        **_instance_json(result, env_state.environment),
    }


def card_json(result: Result) -> dict[str, Any]:
    command = result.command
    if command.verb == "list":
        return {
            "flags": [
                {
                    "name": name,
                    "definition": definition.as_dict(),
                    "environments": {s.environment: _state_json(s, result) for s in env_states},
                }
                for definition, (name, env_states) in zip(
                    result.definitions, result.states, strict=True
                )
            ]
        }
    definition = result.definitions[0]
    if command.verb == "get":
        _, env_states = result.states[0]
        return {
            "name": definition.name,
            "definition": definition.as_dict(),
            "environments": {s.environment: _state_json(s, result) for s in env_states},
        }
    return {
        "name": definition.name,
        "command": command.text,
        "definition": definition.as_dict(),
        "environments": {
            c.environment: {
                "changed": c.changed,
                "before": _state_json(c.before, result),
                "after": _state_json(c.after, result),
                **_instance_json(result, c.environment),
            }
            for c in result.changes
        },
    }


def _gate_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "-"
    return f"{value}%" if value else "0"


def _state_label(env_state: EnvironmentState) -> str:
    return env_state.state.state + (" (default)" if env_state.is_default else "")


def _gate_lines(env_state: EnvironmentState, indent: str = "    ") -> list[str]:
    gates = env_state.state.gates()
    return [f"{indent}{gate}: {_gate_text(gates[gate])}" for gate in GATES]


def card_text(result: Result) -> str:
    command = result.command
    lines: list[str] = []
    if command.verb == "list":
        for name, env_states in result.states:
            states = "  ".join(
                f"{result.label(s.environment)}={_state_label(s)}" for s in env_states
            )
            lines.append(f"{name}  {states}")
        return "\n".join(lines) if lines else "no flags match"
    definition = result.definitions[0]
    header = f"{definition.name} ({definition.type}, default_enabled: "
    lines.append(header + ("true" if definition.default_enabled else "false") + ")")
    if command.verb == "get":
        for env_state in result.states[0][1]:
            lines.append(f"  {result.label(env_state.environment)}: {_state_label(env_state)}")
            lines += _gate_lines(env_state)
        return "\n".join(lines)
    for change in result.changes:
        if not change.changed:
            label = result.label(change.environment)
            lines.append(f"  {label}: unchanged, {_state_label(change.after)}")
            lines += _gate_lines(change.after)
            continue
        before, after = change.before, change.after
        label = result.label(change.environment)
        lines.append(f"  {label}: {_state_label(before)} -> {_state_label(after)}")
        old, new = before.state.gates(), after.state.gates()
        for gate in GATES:
            if old[gate] == new[gate]:
                lines.append(f"    {gate}: {_gate_text(new[gate])}")
            else:
                lines.append(f"    {gate}: {_gate_text(old[gate])} -> {_gate_text(new[gate])}")
    return "\n".join(lines)


def history_text(records: list[AuditRecord]) -> str:
    if not records:
        return "no changes recorded"
    return "\n".join(_history_line(r) for r in records)


def _history_line(r: AuditRecord) -> str:
    who = r.who if r.user_id is None else f"{r.who} (user {r.user_id})"
    line = (
        f"{r.at.isoformat(timespec='seconds')}  {environment_label(r.environment, r.instance)}  "
        f"{r.action} {r.gate}: "
        f"{audit_value(r.before)} -> {audit_value(r.after)}  by {who} ({r.source})"
    )
    if r.delivery:
        line += f"  delivery {r.delivery}"
    if r.command:
        line += f"  ran: {r.command}"
        if "--ignore-feature-flag-consistency-check" in r.command:
            line += "  (consistency check overridden)"
    return line


def audit_value(value: Any) -> str:
    """A gate value of an audit row in words; None is "default" (never set there)."""
    if value is None:
        return "default"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_gate_text(v)}" for k, v in value.items()) + "}"
    return _gate_text(value)
