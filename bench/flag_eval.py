"""How much one cached flag check costs: ours against an anchor and a floor.

Run as ``.venv/bin/python bench/flag_eval.py``; it takes well under a minute.

Three contenders answer the same question, "is ``bench_flag`` on for this
actor?", for a flag rolled out to 25% of actors:

* **ours**: ``Flags.enabled()`` on a warm cache (a ``MemoryStore`` holding
  ``percentage_of_actors=25``), the call application code makes on every
  request. It includes everything the read path does: the freshness-clock
  check, the evaluator lookup and the compiled closure.
* **unleash** (the anchor): ``UnleashClient.is_enabled()`` from the official
  Unleash Python SDK on an equivalent ``flexibleRollout`` toggle (rollout 25,
  stickiness ``userId``), evaluated locally from a bootstrapped cache. No
  network: registration and metrics are disabled, toggles are never fetched,
  and a socket guard counts (and refuses) any connection attempt. It shows
  what a widely used, locally evaluating flag client costs per check.
* **bare** (the floor): Flipper's bucketing expression
  ``zlib.crc32(f"{flag}{actor}".encode()) % 100_000 < pct * 1_000`` inlined in
  the loop, with no function call at all. No flag library can answer faster in
  Python, so ``ours / bare`` is the overhead our API adds on top of the
  arithmetic it has to do.

Every contender walks the same 1,000 precomputed actor ids (``"User:<n>"``) so
none of them benefits from a single constant input. Each of ``ROUNDS`` rounds
times one batch of ``CALLS_PER_ROUND`` calls per contender, in a rotating
order, with the garbage collector paused during a batch (as ``timeit`` does);
a contender's figure is the median of its rounds. The cost of the same loop
with an empty body is measured the same way and subtracted, so each figure is
the cost of the call alone, in nanoseconds.

The targets are ``ours / bare <= 3`` and ``unleash / ours >= 50``. The script
reports them and never fails on timing; it exits non-zero only when a sanity
check fails: ours and the bare expression must agree on every actor, and
Unleash must enable a plausible ~25% share. The last line printed is one JSON
object with every figure.
"""

from __future__ import annotations

import gc
import json
import socket
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from UnleashClient import UnleashClient  # type: ignore[attr-defined]  # implicit re-export
from UnleashClient.cache import FileCache

from flags.definitions import Definition, Registry
from flags.engine import Flags
from flags.memory_store import MemoryStore
from flags.state import FlagState

FLAG = "bench_flag"
PERCENTAGE = 25
ACTOR_COUNT = 1_000
PASSES = 50  # over the actor list per batch
CALLS_PER_ROUND = ACTOR_COUNT * PASSES
ROUNDS = 7
UNLEASH_SHARE_RANGE = (0.20, 0.30)  # 1,000 actors at 25%: one sigma is about 1.4 points

ACTORS: list[str] = [f"User:{n}" for n in range(1, ACTOR_COUNT + 1)]

Batch = Callable[[], int]  # runs CALLS_PER_ROUND calls, returns elapsed nanoseconds


def make_ours() -> Flags:
    registry = Registry(
        definitions={
            FLAG: Definition(name=FLAG, type="beta", default_enabled=False, path=f"beta/{FLAG}.yml")
        }
    )
    store = MemoryStore()
    with store.transaction() as tx:
        tx.put("production", FLAG, FlagState(percentage_of_actors=PERCENTAGE))
    flags = Flags(store, registry, "production")
    flags.enabled(FLAG, "User:1")  # warm the cache
    return flags


def unleash_features() -> dict[str, Any]:
    """The /api/client/features payload with the equivalent toggle."""
    return {
        "version": 1,
        "features": [
            {
                "name": FLAG,
                "type": "release",
                "enabled": True,
                "strategies": [
                    {
                        "name": "flexibleRollout",
                        "parameters": {
                            "rollout": str(PERCENTAGE),
                            "stickiness": "userId",
                            "groupId": FLAG,
                        },
                        "constraints": [],
                    }
                ],
            }
        ],
    }


def make_unleash(cache_dir: str) -> UnleashClient:
    cache = FileCache("bench", directory=cache_dir)
    cache.bootstrap_from_dict(unleash_features())
    client = UnleashClient(
        url="http://127.0.0.1:9/",  # never contacted
        app_name="bench",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
    )
    # No fetching: an OfflineConnector reloads the bootstrapped cache only.
    client.initialize_client(fetch_toggles=False)
    return client


@contextmanager
def no_network() -> Iterator[list[object]]:
    """Refuse and record every outgoing socket connection while inside."""
    attempts: list[object] = []
    original = socket.socket.connect

    def refuse(self: Any, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"bench/flag_eval.py: network access refused ({address!r})")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


def empty_batch(actors: list[str]) -> Batch:
    def run() -> int:
        start = time.perf_counter_ns()
        for _ in range(PASSES):
            for _actor in actors:
                pass
        return time.perf_counter_ns() - start

    return run


def ours_batch(flags: Flags, actors: list[str]) -> Batch:
    def run() -> int:
        enabled = flags.enabled
        flag = FLAG
        start = time.perf_counter_ns()
        for _ in range(PASSES):
            for actor in actors:
                enabled(flag, actor)
        return time.perf_counter_ns() - start

    return run


def unleash_batch(client: UnleashClient, actors: list[str]) -> Batch:
    def run() -> int:
        is_enabled = client.is_enabled
        flag = FLAG
        start = time.perf_counter_ns()
        for _ in range(PASSES):
            for actor in actors:
                is_enabled(flag, {"userId": actor})
        return time.perf_counter_ns() - start

    return run


def bare_batch(actors: list[str]) -> Batch:
    def run() -> int:
        crc32 = zlib.crc32
        flag = FLAG
        pct = PERCENTAGE
        start = time.perf_counter_ns()
        for _ in range(PASSES):
            for actor in actors:
                crc32(f"{flag}{actor}".encode()) % 100_000 < pct * 1_000  # noqa: B015
        return time.perf_counter_ns() - start

    return run


def timed(batch: Batch) -> int:
    gc.collect()
    gc.disable()
    try:
        return batch()
    finally:
        gc.enable()


def measure(batches: dict[str, Batch]) -> dict[str, float]:
    """Median nanoseconds per loop iteration of each batch, rounds in rotating order."""
    names = list(batches)
    for name in names:  # warm-up, untimed
        timed(batches[name])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(ROUNDS):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timed(batches[name]) / CALLS_PER_ROUND)
    return {name: statistics.median(values) for name, values in samples.items()}


def bare_answer(actor: str) -> bool:
    return zlib.crc32(f"{FLAG}{actor}".encode()) % 100_000 < PERCENTAGE * 1_000


def main() -> int:
    flags = make_ours()
    ours_answers = [flags.enabled(FLAG, actor) for actor in ACTORS]
    mismatched = [
        actor
        for actor, ours in zip(ACTORS, ours_answers, strict=True)
        if ours != bare_answer(actor)
    ]
    share_enabled = sum(ours_answers) / len(ACTORS)
    print(f"ours: {share_enabled:.1%} of {len(ACTORS)} actors enabled at {PERCENTAGE}%")
    if mismatched:
        print(
            f"FAIL: ours and the bare expression disagree on {len(mismatched)} actors, "
            f"e.g. {mismatched[:5]}",
            file=sys.stderr,
        )
        return 1

    with tempfile.TemporaryDirectory(prefix="flag_eval-") as cache_dir, no_network() as attempts:
        client = make_unleash(cache_dir)
        try:
            if FLAG not in client.feature_definitions():
                print(f"FAIL: Unleash did not load {FLAG} from its cache", file=sys.stderr)
                return 1
            unleash_share = sum(client.is_enabled(FLAG, {"userId": a}) for a in ACTORS) / len(
                ACTORS
            )
            print(f"unleash: {unleash_share:.1%} of {len(ACTORS)} actors enabled at {PERCENTAGE}%")
            low, high = UNLEASH_SHARE_RANGE
            if not low <= unleash_share <= high:
                print(f"FAIL: Unleash enabled {unleash_share:.1%}, not ~25%", file=sys.stderr)
                return 1
            per_iteration = measure(
                {
                    "empty_loop": empty_batch(ACTORS),
                    "ours": ours_batch(flags, ACTORS),
                    "unleash": unleash_batch(client, ACTORS),
                    "bare": bare_batch(ACTORS),
                }
            )
        finally:
            client.destroy()
        network_attempts = len(attempts)
    print(f"unleash: network connection attempts: {network_attempts}")
    if network_attempts:
        print(f"FAIL: Unleash tried the network: {attempts!r}", file=sys.stderr)
        return 1

    empty = per_iteration["empty_loop"]
    ours_ns = per_iteration["ours"] - empty
    bare_ns = per_iteration["bare"] - empty
    unleash_ns = per_iteration["unleash"] - empty
    ours_vs_bare = ours_ns / bare_ns
    unleash_vs_ours = unleash_ns / ours_ns

    print(f"{ROUNDS} rounds x {CALLS_PER_ROUND:,} calls per contender, medians, per call:")
    print(f"  empty loop            {empty:10.1f} ns/iteration (subtracted below)")
    print(f"  bare expression       {bare_ns:10.1f} ns/call (floor)")
    print(f"  ours Flags.enabled()  {ours_ns:10.1f} ns/call")
    print(f"  unleash is_enabled()  {unleash_ns:10.1f} ns/call (anchor)")
    print(f"  ours_vs_bare    = {ours_vs_bare:6.2f}  (target <= 3)")
    print(f"  unleash_vs_ours = {unleash_vs_ours:6.1f}  (target >= 50)")
    print(
        json.dumps(
            {
                "bench": "flag_eval",
                "ours_ns": round(ours_ns, 1),
                "bare_ns": round(bare_ns, 1),
                "unleash_ns": round(unleash_ns, 1),
                "empty_loop_ns": round(empty, 1),
                "ours_vs_bare": round(ours_vs_bare, 3),
                "unleash_vs_ours": round(unleash_vs_ours, 1),
                "rounds": ROUNDS,
                "calls_per_round": CALLS_PER_ROUND,
                "actors": len(ACTORS),
                "percentage": PERCENTAGE,
                "share_enabled": share_enabled,
                "unleash_share_enabled": unleash_share,
                "network_attempts": network_attempts,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
