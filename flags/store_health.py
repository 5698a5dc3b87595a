"""How well the flag store answers: an error count, the age of the states, one log line per outage.

A store that fails every check would otherwise log every 0.5 s in every
process; an operator needs to know when an outage started, when it ended, and
how stale the served states are meanwhile (Prometheus series on `/metrics`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("flags.engine")

OUTAGE_STARTED = (
    "feature flag store unreachable (%s); serving the states confirmed %.1f s ago "
    "until it answers again"
)
COLD_START = (
    "feature flag store unreachable at start (%s); serving the definitions' defaults "
    "until it answers: a flag that is on in the store reads as its default meanwhile"
)
OUTAGE_ENDED = "feature flag store answers again after %.1f s and %d failed checks"


def describe(exc: BaseException) -> str:
    """One line: the class and the first line of the message, never a traceback."""
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


class StoreHealth:
    """Counts failed reads and times the states since the store last confirmed them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.errors_total = 0
        self._confirmed_at = clock()  # never confirmed yet: the age runs from creation
        self.ever_confirmed = False
        self._outage_started: float | None = None
        self._outage_errors = 0

    @property
    def age_seconds(self) -> float:
        return max(0.0, self._clock() - self._confirmed_at)

    @property
    def in_outage(self) -> bool:
        return self._outage_started is not None

    def confirmed(self) -> None:
        """The store answered: the states served are its current ones."""
        now = self._clock()
        if self._outage_started is not None:
            log.warning(OUTAGE_ENDED, now - self._outage_started, self._outage_errors)
            self._outage_started = None
            self._outage_errors = 0
        self._confirmed_at = now
        self.ever_confirmed = True

    def failed(self, exc: BaseException) -> None:
        self.errors_total += 1
        self._outage_errors += 1
        if self._outage_started is not None:
            return
        self._outage_started = self._clock()
        if self.ever_confirmed:
            log.error(OUTAGE_STARTED, describe(exc), self.age_seconds)
        else:
            log.error(COLD_START, describe(exc))
