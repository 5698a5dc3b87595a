"""Failure injection for the API: canned errors and slow responses for the next n requests."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    remaining: int
    status: int | None = None  # None: no error, only the delay
    retry_after: int | None = None
    delay: float = 0.0
    method: str | None = None
    path: re.Pattern[str] | None = None
    # Hold the answer instead of the request: the change is made, its answer comes late
    # (a client that times out has had its write applied, as on a slow instance).
    late: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and (
            self.path is None or self.path.search(path) is not None
        )


class FaultPlan:
    """Rules are consumed in the order they were added; each request takes at most one
    error rule and at most one delay rule."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._wake = threading.Event()

    def add(
        self,
        n: int,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        method: str | None = None,
        path: str | None = None,
        late: bool = False,
    ) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._faults.append(
                Fault(
                    remaining=n,
                    status=status,
                    retry_after=retry_after,
                    delay=delay,
                    method=method.upper() if method else None,
                    path=re.compile(path) if path else None,
                    late=late,
                )
            )

    def take(self, method: str, path: str) -> tuple[float, Fault | None, float]:
        """The delay to sleep before handling one request, the error to answer it with,
        and the delay to hold its answer after handling it."""
        delay, error, late = 0.0, None, 0.0
        with self._lock:
            for kind_is_error in (True, False):
                for fault in self._faults:
                    if (fault.status is not None) == kind_is_error and fault.matches(method, path):
                        fault.remaining -= 1
                        if kind_is_error:
                            error = fault
                        elif fault.late:
                            late = fault.delay
                        else:
                            delay = fault.delay
                        break
            self._faults = [f for f in self._faults if f.remaining > 0]
        return delay, error, late

    def sleep(self, seconds: float) -> None:
        """Hold a request; `clear()` or `release()` cuts the wait short."""
        with self._lock:
            wake = self._wake
        wake.wait(seconds)

    def release(self) -> None:
        """Wake every request held by a delay now; later delays wait again."""
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()

    def clear(self) -> None:
        """Drop every pending rule and wake held requests."""
        with self._lock:
            self._faults.clear()
        self.release()
