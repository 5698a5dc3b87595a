"""States of environments kept on a GitLab instance, as the bot last set them.

The pages never call GitLab (a slow instance must not slow them, and the web process
only reads its database), so an instance's flags are shown from the bot's own audit
rows: every change the bot made there is one, replayed like the chart replays them.
A change made on the instance by other means is not seen; the pages say so, and
`rollout-bot feature get` asks the instance itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flags.state import FlagState
from flags.store import AuditRecord, Snapshot, States
from webhook.dashboard.rollout_series import ALL_GATES, apply_row, readable_state
from webhook.dashboard.when import aware

NOTE = "as the bot last set it"


def last_set(records: Iterable[AuditRecord], default_for: Callable[[str], FlagState]) -> States:
    """environment -> flag -> state after the newest audit row; a delete drops the flag."""
    gates: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (aware(r.at), r.id or 0)):
        key = (record.environment, record.flag)
        if record.gate == ALL_GATES and not isinstance(record.after, dict):
            gates.pop(key, None)  # deleted: never set, as the instance says of it
            continue
        default = default_for(record.flag)
        gates[key] = apply_row(gates.get(key) or default.gates(), record, default)
    states: States = {}
    for (environment, flag), value in gates.items():
        states.setdefault(environment, {})[flag] = readable_state(value)
    return states


def with_instances(snapshot: Snapshot, instances: Mapping[str, str], replayed: States) -> Snapshot:
    """The database's snapshot, with each instance-backed environment from the replay."""
    if not instances:
        return snapshot
    states = {env: flags for env, flags in snapshot.states.items() if env not in instances}
    for environment in instances:
        if replayed.get(environment):
            states[environment] = dict(replayed[environment])
    return Snapshot(snapshot.version, states)
