"""A store whose environments live each in the bot's database or on a GitLab instance.

Plugs into `flags.store`'s interface, so `flags` runs its checks and transitions
without knowing where an environment lives. Only flag states go to an instance:
audit rows, remembered runs and the version stay in the bot's database.

A transaction is the database's (its writer lock serializes the bot's writers) with
the instance writes sent last, once every put and audit row is in: a refusal from an
instance then discards everything, and the database commits only after the instance
took every change. An instance cannot roll back, so when an answer never comes (a
timeout) or a later write fails, the writes sent are journaled (`instance_writes`)
after the rollback; the retried step reads the instance first, finds the change made,
and records it once, from the state before it, sending nothing again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flags.sql_store import SqlStore
from flags.state import FlagState
from flags.store import AuditRecord, Snapshot, Transaction
from gitlab_ops.instance_features import Instance, InstanceRefused
from gitlab_ops.schema import instance_writes


def _gates(state: FlagState | None) -> dict[str, Any] | None:
    return None if state is None else state.gates()


def _state(gates: dict[str, Any] | None) -> FlagState | None:
    return None if gates is None else FlagState.from_gates(gates)


@dataclass
class _Write:
    instance: Instance
    name: str
    read: FlagState | None  # what the instance holds now
    before: FlagState | None  # what the command saw (the journal's, for a landed retry)
    after: FlagState | None


class _RoutedTransaction:
    def __init__(
        self, base: Transaction, conn: Connection, instances: Mapping[str, Instance]
    ) -> None:
        self.base = base
        self.conn = conn
        self.instances = instances
        self.reads: dict[tuple[str, str], _Write] = {}  # each flag read once: it holds till commit
        self.writes: dict[tuple[str, str], _Write] = {}
        # Journal rows this transaction settles: writes that never landed. One that landed
        # stays until a transaction writes that flag (the retry that records it).
        self.seen: set[tuple[str, str]] = set()

    def get(self, environment: str, name: str) -> FlagState | None:
        instance = self.instances.get(environment)
        if instance is None:
            return self.base.get(environment, name)
        write = self._read(environment, name, instance)
        return write.after if (environment, name) in self.writes else write.before

    def _read(self, environment: str, name: str, instance: Instance) -> _Write:
        key = (environment, name)
        if key in self.reads:
            return self.reads[key]
        read = instance.state(name)
        before = read
        journal = self.conn.execute(
            sa.select(instance_writes).where(
                instance_writes.c.environment == environment, instance_writes.c.feature == name
            )
        ).first()
        if journal is not None:
            if _state(journal.after) == read:
                before = _state(journal.before)  # it landed: the change is still to record
            else:
                self.seen.add(key)
        self.reads[key] = write = _Write(instance, name, read, before, before)
        return write

    def put(self, environment: str, name: str, state: FlagState | None) -> None:
        instance = self.instances.get(environment)
        if instance is None:
            self.base.put(environment, name, state)
            return
        # Only to set: forgetting a flag is how a cleanup ends, after its definition went.
        if state is not None and not instance.defined(name):
            raise InstanceRefused(
                f"{instance.label} has no definition of '{name}' "
                "(GET /features/definitions): deploy it there first"
            )
        write = self._read(environment, name, instance)
        write.after = state
        self.writes[(environment, name)] = write

    def record(self, record: AuditRecord) -> None:
        self.base.record(record)

    def recall(self, key: str) -> Any | None:
        return self.base.recall(key)

    def remember(self, key: str, result: Any) -> None:
        self.base.remember(key, result)


class RoutedStore:
    """Environments in `instances` live on their GitLab instance, the others in `base`."""

    def __init__(self, base: SqlStore, instances: Mapping[str, Instance]) -> None:
        self.base = base
        self.instances = dict(instances)

    def instance(self, environment: str) -> str | None:
        found = self.instances.get(environment)
        return None if found is None else found.name

    def version(self) -> int:
        return self.base.version()

    def snapshot(self) -> Snapshot:
        snapshot = self.base.snapshot()
        states = {env: dict(flags) for env, flags in snapshot.states.items()}
        for environment, instance in self.instances.items():
            held = instance.states()
            if held:
                states[environment] = held
            else:
                states.pop(environment, None)
        return Snapshot(snapshot.version, states)

    @contextmanager
    def transaction(self) -> Iterator[_RoutedTransaction]:
        sent: list[tuple[str, _Write]] = []
        try:
            with self.base.transaction() as base_tx:
                tx = _RoutedTransaction(base_tx, base_tx.conn, self.instances)
                yield tx
                if tx.writes or tx.seen:
                    base_tx.dirty = True  # the journal rows it settles go with the commit
                for (environment, _), write in tx.writes.items():
                    sent.append((environment, write))
                    write.instance.apply(write.name, write.read, write.after)
                self._settle(base_tx.conn, tx.seen | set(tx.writes))
        except InstanceRefused:
            # Refused as a whole when it was the first write; otherwise what the earlier
            # writes did is journaled like a timeout's.
            self._journal(sent[:-1])
            raise
        except Exception:
            self._journal(sent)
            raise

    def _settle(self, conn: Connection, keys: set[tuple[str, str]]) -> None:
        for environment, name in keys:
            conn.execute(
                sa.delete(instance_writes).where(
                    instance_writes.c.environment == environment,
                    instance_writes.c.feature == name,
                )
            )

    def _journal(self, sent: list[tuple[str, _Write]]) -> None:
        if not sent:
            return
        now = dt.datetime.now(dt.UTC)
        with self.base.engine.begin() as conn:
            for environment, write in sent:
                self._settle(conn, {(environment, write.name)})
                conn.execute(
                    sa.insert(instance_writes).values(
                        environment=environment,
                        feature=write.name,
                        before=_gates(write.before),
                        after=_gates(write.after),
                        at=now,
                    )
                )

    def history(self, name: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        return self.base.history(name, limit)

    def recall(self, key: str) -> Any | None:
        return self.base.recall(key)

    def remember(self, key: str, result: Any) -> None:
        self.base.remember(key, result)

    def purge_runs(self, before: dt.datetime, *, batch: int) -> int:
        return self.base.purge_runs(before, batch=batch)

    def recorded_instance(self, environment: str) -> str | None:
        return self.instance(environment)
