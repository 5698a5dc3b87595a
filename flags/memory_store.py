"""An in-process store, for tests and trials; the reference for the shared suite."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flags.state import FlagState
from flags.store import AuditRecord, Snapshot, States, iter_records


class _MemoryTransaction:
    def __init__(self, states: States, next_id: int, runs: dict[str, Any]) -> None:
        self.states = states
        self.runs = runs
        self.records: list[AuditRecord] = []
        self.dirty = False
        self.next_id = next_id

    def get(self, environment: str, name: str) -> FlagState | None:
        return self.states.get(environment, {}).get(name)

    def put(self, environment: str, name: str, state: FlagState | None) -> None:
        self.dirty = True
        if state is None:
            self.states.get(environment, {}).pop(name, None)
        else:
            self.states.setdefault(environment, {})[name] = state

    def record(self, record: AuditRecord) -> None:
        self.records.append(dataclasses.replace(record, id=self.next_id))
        self.next_id += 1

    def recall(self, key: str) -> Any | None:
        return self.runs.get(key)

    def remember(self, key: str, result: Any) -> None:
        self.dirty = True
        self.runs[key] = copy.deepcopy(result)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._states: States = {}
        self._records: list[AuditRecord] = []
        self._runs: dict[str, Any] = {}
        self._version = 0

    def version(self) -> int:
        return self._version

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self._version, copy.deepcopy(self._states))

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        with self._lock:
            tx = _MemoryTransaction(
                copy.deepcopy(self._states), len(self._records) + 1, dict(self._runs)
            )
            yield tx
            if tx.dirty or tx.records:
                self._states = tx.states
                self._records.extend(tx.records)
                self._runs = tx.runs
                self._version += 1

    def recall(self, key: str) -> Any | None:
        with self._lock:
            return copy.deepcopy(self._runs.get(key))

    def remember(self, key: str, result: Any) -> None:
        with self._lock:
            self._runs.setdefault(key, copy.deepcopy(result))

    def history(self, name: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        with self._lock:
            rows = [r for r in iter_records(self._records) if name is None or r.flag == name]
        return rows if limit is None else rows[:limit]
