"""Reading flags in an application: cached, never raising, fresh within a second.

Every process keeps the compiled evaluators of one environment. At most every
`check_interval` seconds a read asks the store for its version counter (one
small query) and reloads only when another process changed something, so a
write anywhere is seen everywhere within that interval plus one reload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from flags.definitions import Registry
from flags.evaluation import Evaluator, GroupPredicate, compile_state
from flags.state import FlagState, default_state
from flags.store import Store

log = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 0.5


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
    ) -> None:
        self.store = store
        self.registry = registry
        self.environment = environment
        self.groups: dict[str, GroupPredicate] = dict(groups or {})
        self.check_interval = check_interval
        self._clock = clock
        self._version: int | None = None
        self._next_check = 0.0
        self._states: dict[str, FlagState] = {}
        self._evaluators: dict[str, Evaluator] = self._compile({})
        self._warned: set[str] = set()

    def register_group(self, name: str, predicate: GroupPredicate) -> None:
        """A feature group for `--feature-group=NAME`: on for actors the predicate accepts."""
        self.groups[name] = predicate
        self._version = None
        self._next_check = 0.0

    def enabled(self, name: str, actor: Any = None) -> bool:
        """Is `name` on for `actor` (a 'Type:id' string, an object with flipper_id, a list)?

        Never raises: on any error it logs and answers the definition's default.
        """
        try:
            if self._clock() >= self._next_check:
                self._refresh()
            evaluate = self._evaluators.get(name)
            if evaluate is None:
                return self._undefined(name)
            return evaluate(actor)
        except Exception:
            log.exception("evaluating feature flag %s failed; using its default", name)
            return self._default(name)

    def state(self, name: str) -> FlagState:
        """The cached state of `name` (its default while never set)."""
        self.enabled(name)
        return self._states.get(name, default_state(self._default(name)))

    def refresh(self) -> None:
        """Reload now, whatever the interval; after a write in this process."""
        self._version = None
        self._refresh()

    def _refresh(self) -> None:
        self._next_check = self._clock() + self.check_interval
        try:
            version = self.store.version()
            if version == self._version:
                return
            snapshot = self.store.snapshot()
        except Exception:
            # Keep serving what we have; the next interval tries again.
            log.exception("reading feature flags from the store failed; keeping cached values")
            return
        stored = snapshot.states.get(self.environment, {})
        self._evaluators = self._compile(stored)
        self._version = snapshot.version

    def _compile(self, stored: Mapping[str, FlagState]) -> dict[str, Evaluator]:
        states: dict[str, FlagState] = {}
        evaluators: dict[str, Evaluator] = {}
        for name, definition in self.registry.definitions.items():
            state = stored.get(name) or default_state(definition.default_enabled)
            states[name] = state
            evaluators[name] = compile_state(name, state, self.groups)
        self._states = states
        return evaluators

    def _default(self, name: str) -> bool:
        definition = self.registry.get(name)
        return bool(definition and definition.default_enabled)

    def _undefined(self, name: str) -> bool:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("feature flag %s is not defined; it is off", name)
        return False
