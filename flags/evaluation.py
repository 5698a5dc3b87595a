"""Whether a flag is on for an actor: Flipper's gates, compiled once per state.

Each state compiles to one closure that checks only the gates that are set,
so the cached read path is a dict lookup and one call.
"""

from __future__ import annotations

import random as _random
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flags.state import FlagState

# Flipper's percentage_of_actors gate: "Stable, deterministic bucketing matters
# far more here than perfect uniformity. Do not change."
SCALING_FACTOR = 1_000
BUCKETS = 100 * SCALING_FACTOR

Evaluator = Callable[[Any], bool]
GroupPredicate = Callable[[Any], bool]


def actor_id(actor: Any) -> str:
    """An actor's Flipper id: a string as is, else its `flipper_id` attribute."""
    if isinstance(actor, str):
        return actor
    flipper_id = getattr(actor, "flipper_id", None)
    if flipper_id is None:
        raise TypeError(f"{actor!r} is not an actor: pass a 'Type:id' string or give it flipper_id")
    return str(flipper_id)


def actor_ids(actor: Any) -> tuple[str, ...]:
    """None, one actor, or several (a list or tuple) as a tuple of ids."""
    if actor is None:
        return ()
    if isinstance(actor, list | tuple | set | frozenset):
        return tuple(actor_id(a) for a in actor)
    return (actor_id(actor),)


def bucket(flag: str, ids: Iterable[str]) -> int:
    """Flipper's bucket of a set of actors for a flag, 0 <= bucket < 100_000."""
    return zlib.crc32(f"{flag}{''.join(sorted(ids))}".encode()) % BUCKETS


def percentage_of_actors_open(flag: str, ids: Iterable[str], percentage: float) -> bool:
    ids = tuple(ids)
    if not ids:
        return False
    return bucket(flag, ids) < percentage * SCALING_FACTOR


def _always(value: bool) -> Evaluator:
    def evaluate(actor: Any) -> bool:
        return value

    return evaluate


ALWAYS_ON = _always(True)
ALWAYS_OFF = _always(False)


def compile_state(
    flag: str,
    state: FlagState,
    groups: Mapping[str, GroupPredicate],
    random: Callable[[], float] = _random.random,
) -> Evaluator:
    """The evaluator of one flag state; `groups` maps feature-group names to predicates."""
    if state.boolean:
        return ALWAYS_ON
    if state.state == "off":
        return ALWAYS_OFF
    crc32 = zlib.crc32
    threshold = state.percentage_of_actors * SCALING_FACTOR
    if not state.actors and not state.groups and not state.percentage_of_time:
        # The common rollout shape, kept to the bare formula for a single actor.
        def percentage_only(actor: Any) -> bool:
            if actor.__class__ is str:
                return crc32((flag + actor).encode()) % BUCKETS < threshold
            ids = actor_ids(actor)
            return bool(ids) and bucket(flag, ids) < threshold

        return percentage_only

    actors = state.actors
    predicates = [groups[name] for name in sorted(state.groups) if name in groups]
    time_share = state.percentage_of_time / 100

    def evaluate(actor: Any) -> bool:
        ids = actor_ids(actor)
        if actors and not actors.isdisjoint(ids):
            return True
        if predicates and actor is not None:
            things = actor if isinstance(actor, list | tuple | set | frozenset) else (actor,)
            if any(predicate(thing) for predicate in predicates for thing in things):
                return True
        if threshold and ids and bucket(flag, ids) < threshold:
            return True
        return bool(time_share) and random() < time_share

    return evaluate
