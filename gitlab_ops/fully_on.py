"""The cleanup merge request's precondition: the flag is on for everyone in production.

The cleanup keeps only the enabled code path, rewriting every check to true.
For a flag that is off, partly on or rolled back, that ships a feature nobody
decided to ship, so it is refused; a person at a terminal may override it
(`rollout-bot cleanup mr --force`), a ticked step may not.
"""

from __future__ import annotations

from flags.commands import PRODUCTION, Context, undefined_refusal
from flags.errors import Refusal
from flags.results import EnvironmentState
from flags.state import default_state

NOT_FULLY_ON = (
    "not opening the cleanup merge request: `{flag}` is {state} on production, and the "
    "cleanup rewrites every check of it to true. Enable it for everyone first "
    "(`/chatops run feature set {flag} true`), then ask again; to remove it anyway, run "
    "`rollout-bot cleanup mr {flag} --project {project} --force` from a terminal"
)
OFF = "off"
PARTLY_ON = "only partly on ({gates})"
NEVER_SET_OFF = "never set, so off by its definition's `default_enabled: false`"


def production_state(ctx: Context, flag: str) -> EnvironmentState:
    """The flag's state on production, its definition's default when never set there."""
    stored = ctx.store.snapshot().get(PRODUCTION, flag)
    if stored is not None:
        return EnvironmentState(PRODUCTION, stored, False)
    definition = ctx.registry.get(flag)
    if definition is None:
        raise undefined_refusal(ctx.registry, flag)
    return EnvironmentState(PRODUCTION, default_state(definition.default_enabled), True)


def not_fully_on(flag: str, production: EnvironmentState, project: str) -> Refusal | None:
    """Why the cleanup may not be opened yet; None when the flag is on for everyone."""
    state = production.state
    if state.boolean:
        return None
    if production.is_default:
        described = NEVER_SET_OFF
    elif state.state == "conditional":
        gates = [
            f"{gate}: {_value(value)}"
            for gate, value in state.gates().items()
            if gate != "boolean" and value
        ]
        described = PARTLY_ON.format(gates="; ".join(gates))
    else:
        described = OFF
    return Refusal(NOT_FULLY_ON.format(flag=flag, state=described, project=project))


def _value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return f"{value}%"
