"""A count for /metrics that the processes a server forks can share."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any


class ProcessCount:
    """This process's count; once `share` is called, one in shared memory that every
    process forked after that adds to and reads.

    A server calls `share` before forking its web processes: /metrics is answered by
    whichever of them accepts the scrape, and a count of each process's own goes up and
    down between scrapes (0, 0, 1, 0, 0, 1 over a 2-process `serve`), which Prometheus
    reads as resets.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._own = 0
        self._shared: Any = None  # multiprocessing's Value, typed in its stubs as Synchronized

    def add(self) -> None:
        if self._shared is None:
            with self._lock:
                self._own += 1
            return
        with self._shared.get_lock():
            self._shared.value += 1

    def count(self) -> int:
        return self._own if self._shared is None else int(self._shared.value)

    def share(self) -> None:
        if self._shared is None:
            self._shared = multiprocessing.Value("q", self._own)
