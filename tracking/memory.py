"""The memory mode: events queued in the process after commit, no outbox table.

For an application that accepts losing what is queued when the process dies.
The queue is bounded: when it is full, new events are dropped and counted,
and a commit never waits for room.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence

from tracking.claims import Chunk, Item, Settlement
from tracking.counters import Counters


class MemoryQueue:
    def __init__(self, capacity: int, counters: Counters) -> None:
        self.capacity = capacity
        self.counters = counters
        self._lock = threading.Lock()
        self._items: deque[Item] = deque()
        self._in_flight: dict[int, str] = {}
        self._keys = itertools.count()

    def put(self, payloads: Sequence[str]) -> int:
        """Queue what fits; the number queued. The rest is dropped and counted."""
        with self._lock:
            room = max(0, self.capacity - len(self._items) - len(self._in_flight))
            accepted = payloads[:room]
            self._items.extend((next(self._keys), payload) for payload in accepted)
        dropped = len(payloads) - len(accepted)
        if dropped:
            self.counters.add("dropped", dropped)
            self.counters.error(f"memory queue full ({self.capacity}): {dropped} events dropped")
        return len(accepted)

    def claim(self, limit: int) -> Chunk | None:
        with self._lock:
            items = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
            self._in_flight.update(items)
        return _Claimed(self, items) if items else None

    def _settle(self, items: list[Item], settlement: Settlement) -> None:
        gone = {key for key, _ in settlement.sent}
        gone.update(settlement.dropped, settlement.dead)
        with self._lock:
            for key, _ in items:
                self._in_flight.pop(key, None)
            # What goes back goes to the front, in order: it was the oldest.
            self._items.extendleft(reversed([item for item in items if item[0] not in gone]))
        if settlement.dead:
            # No table to keep dead letters in: they are dropped, and counted.
            self.counters.add("dropped", len(settlement.dead))

    def depth(self) -> int:
        with self._lock:
            return len(self._items) + len(self._in_flight)

    def reset_after_fork(self, owner: str) -> None:
        # What the parent queued is the parent's to send.
        self._lock = threading.Lock()
        self._items = deque()
        self._in_flight = {}


class _Claimed:
    def __init__(self, queue: MemoryQueue, items: list[Item]) -> None:
        self.queue = queue
        self.items = items

    def attempts(self, key: int) -> int:
        return 0

    def settle(self, settlement: Settlement) -> None:
        self.queue._settle(self.items, settlement)
