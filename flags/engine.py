"""Reading flags in an application: cached, never raising or waiting on the database.

Every process keeps the compiled evaluators of one environment. A poller
thread asks the store for its version counter (one small, time-bounded query)
every `check_interval` seconds and reloads only when another process changed
something, so a write anywhere is seen everywhere within that interval plus one
reload. By default the check runs inline in the read that finds it due, bounded
by the store's statement (busy) timeout: no thread outlives the engine an
application disposes. With `threaded=True` a poller thread checks instead and
`enabled()` touches no database after the first read: a slow or unreachable
store (even a dead link, which no server-side timeout bounds) delays the
states, never the caller, who may be in the middle of its own flush.

When the store fails the last states it confirmed keep serving; the failure is
counted (`store_errors_total`), the staleness shows (`state_age_seconds`), and
an outage logs one line when it starts and one when it ends. With the store
down at a cold start the definitions' defaults serve (`serving_defaults`).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flags.definitions import Registry
from flags.evaluation import Evaluator, GroupPredicate, compile_state
from flags.state import FlagState, default_state
from flags.store import Store, refuse_instance_environment
from flags.store_health import StoreHealth

log = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 0.5


@dataclass(frozen=True)
class _Loaded:
    """One consistent view, swapped in whole so the poller needs no lock."""

    version: int | None
    stored: Mapping[str, FlagState]
    states: dict[str, FlagState] = field(default_factory=dict)
    evaluators: dict[str, Evaluator] = field(default_factory=dict)


def _poll(ref: weakref.ref[Flags], stop: threading.Event, interval: float) -> None:
    # A weak reference: the thread ends once its Flags is no longer used.
    while not stop.wait(interval):
        flags = ref()
        if flags is None:
            return
        flags._refresh()
        del flags


class Flags:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        environment: str = "production",
        *,
        groups: Mapping[str, GroupPredicate] | None = None,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        threaded: bool = False,
    ) -> None:
        # Before anything else: serving the bot's copy of an environment the instance
        # evaluates would answer defaults, silently wrong (InstanceEnvironment, a Refusal).
        refuse_instance_environment(store, environment, "flags.Flags")
        self.store = store
        self.registry = registry
        self.environment = environment
        self.groups: dict[str, GroupPredicate] = dict(groups or {})
        self.check_interval = check_interval
        self.threaded = threaded
        self._clock = clock
        self._health = StoreHealth(clock)
        self._loaded = self._compile(None, {})
        self._next_check = 0.0
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._warned: set[str] = set()

    @property
    def store_errors_total(self) -> int:
        """Failed version checks and snapshot reads since this object was made."""
        return self._health.errors_total

    @property
    def state_age_seconds(self) -> float:
        """Seconds since the store last confirmed the states served (since creation if never)."""
        return self._health.age_seconds

    @property
    def serving_defaults(self) -> bool:
        """True while the store never answered: every flag reads as its definition's default."""
        return not self._health.ever_confirmed

    def register_group(self, name: str, predicate: GroupPredicate) -> None:
        """A feature group for `--feature-group=NAME`: on for actors the predicate accepts."""
        self.groups[name] = predicate
        loaded = self._loaded
        self._loaded = self._compile(loaded.version, loaded.stored)

    def enabled(self, name: str, actor: Any = None) -> bool:
        """Is `name` on for `actor` (a 'Type:id' string, an object with flipper_id, a list)?

        Never raises: on any error it logs and answers the definition's default.
        """
        try:
            if self._clock() >= self._next_check:
                self._due()
            evaluate = self._loaded.evaluators.get(name)
            if evaluate is None:
                return self._undefined(name)
            return evaluate(actor)
        except Exception:
            log.exception("evaluating feature flag %s failed; using its default", name)
            return self._default(name)

    def state(self, name: str) -> FlagState:
        """The cached state of `name` (its default while never set)."""
        self.enabled(name)
        return self._loaded.states.get(name, default_state(self._default(name)))

    def refresh(self) -> None:
        """Reload now, whatever the interval; after a write in this process."""
        loaded = self._loaded
        self._loaded = _Loaded(None, loaded.stored, loaded.states, loaded.evaluators)
        self._refresh()

    def watch(self) -> None:
        """Start keeping the states current now (the first read does it otherwise)."""
        if self._clock() >= self._next_check:
            self._due()

    def close(self) -> None:
        """Stop the poller thread; reads go on from the last states."""
        self._stop.set()
        self._next_check = float("inf")
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=2 * self.check_interval + 1)  # a check in flight ends first

    def _due(self) -> None:
        if not self.threaded or self.check_interval <= 0:
            self._refresh()
            return
        if self._poller is None:
            # The first read loads inline (a cold start has nothing better to serve).
            self._refresh()
        # The poller moves this deadline on; past it the poller is gone (a fork
        # leaves threads behind) or stuck in a check, and a new one is started.
        self._next_check = self._clock() + 2 * self.check_interval + 1
        poller = self._poller
        if poller is None or not poller.is_alive():
            self._poller = threading.Thread(
                target=_poll,
                args=(weakref.ref(self), self._stop, self.check_interval),
                name="flags-poller",
                daemon=True,
            )
            self._poller.start()

    def _refresh(self) -> None:
        if self.threaded and self.check_interval > 0:
            self._next_check = self._clock() + 2 * self.check_interval + 1
        else:
            self._next_check = self._clock() + self.check_interval
        loaded = self._loaded
        try:
            version = self.store.version()
            if version == loaded.version:
                self._health.confirmed()
                return
            snapshot = self.store.snapshot()
        except Exception as exc:
            # Keep serving what we have; the next interval tries again.
            self._health.failed(exc)
            return
        if loaded.version is not None and snapshot.version < loaded.version:
            return  # a slower, older read finished after a newer one
        self._loaded = self._compile(snapshot.version, snapshot.states.get(self.environment, {}))
        self._health.confirmed()

    def _compile(self, version: int | None, stored: Mapping[str, FlagState]) -> _Loaded:
        states: dict[str, FlagState] = {}
        evaluators: dict[str, Evaluator] = {}
        for name, definition in self.registry.definitions.items():
            state = stored.get(name) or default_state(definition.default_enabled)
            states[name] = state
            evaluators[name] = compile_state(name, state, self.groups)
        return _Loaded(version, dict(stored), states, evaluators)

    def _default(self, name: str) -> bool:
        definition = self.registry.get(name)
        return bool(definition and definition.default_enabled)

    def _undefined(self, name: str) -> bool:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("feature flag %s is not defined; it is off", name)
        return False
