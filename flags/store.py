"""The storage interface every adapter implements, and the audit record.

Like Flipper's adapters, a store needs only a few primitives: read everything
with its version, change flags inside one atomic transaction (which records the
audit rows and bumps the version), and read the audit history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from flags.errors import Refusal
from flags.state import FlagState

# environment -> flag name -> state, only for flags that were ever set there
States = dict[str, dict[str, FlagState]]


@dataclass(frozen=True)
class Snapshot:
    version: int
    states: States

    def get(self, environment: str, name: str) -> FlagState | None:
        return self.states.get(environment, {}).get(name)


@dataclass(frozen=True)
class AuditRecord:
    environment: str
    flag: str
    action: str
    gate: str
    before: Any
    after: Any
    who: str
    source: str
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    id: int | None = None
    # Usernames change; the GitLab user id does not. None from a terminal.
    user_id: int | None = None
    delivery: str | None = None  # the webhook delivery that ran it, if any
    command: str | None = None  # the command line as run, if a command ran it
    # The GitLab instance that holds this environment's states, if not the bot's store.
    instance: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "environment": self.environment,
            "flag": self.flag,
            "action": self.action,
            "gate": self.gate,
            "before": self.before,
            "after": self.after,
            "who": self.who,
            "user_id": self.user_id,
            "source": self.source,
            "delivery": self.delivery,
            "command": self.command,
            "instance": self.instance,
        }


class Transaction(Protocol):
    def get(self, environment: str, name: str) -> FlagState | None:
        """The stored state, or None while the flag was never set (or was deleted)."""

    def put(self, environment: str, name: str, state: FlagState | None) -> None:
        """Store a state; None deletes it so the definition's default applies again."""

    def record(self, record: AuditRecord) -> None: ...

    def recall(self, key: str) -> Any | None:
        """What the command run under `key` did, if it ran (JSON-ready data)."""

    def remember(self, key: str, result: Any) -> None:
        """Record what the command run under `key` did, with its change."""


class Store(Protocol):
    def version(self) -> int:
        """A counter that every committed change increases; cheap to read."""

    def snapshot(self) -> Snapshot: ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """All-or-nothing: an exception inside discards every put and record.

        Writers are serialized, so what `get` returns stays true until commit.
        """

    def history(self, name: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Audit records, newest first."""

    def recall(self, key: str) -> Any | None:
        """What the run under `key` did, read without the writers' lock."""

    def remember(self, key: str, result: Any) -> None:
        """Record a run that changed no flag (a refusal, an acknowledgement).

        Outside a flag transaction, so it neither waits for flag writers nor
        bumps the version that makes every process reload its flags. The first
        record of a key wins.
        """


@runtime_checkable
class InstanceBacked(Protocol):
    """A store that knows which environments a GitLab instance holds (its Features API)."""

    def instance(self, environment: str) -> str | None:
        """The instance's name (its host) when it holds `environment`'s states, else None."""


@runtime_checkable
class RecordsInstances(Protocol):
    """A database that records which environments the bot keeps on a GitLab instance."""

    def recorded_instance(self, environment: str) -> str | None: ...


def instance_of(store: object, environment: str) -> str | None:
    return store.instance(environment) if isinstance(store, InstanceBacked) else None


def environment_label(environment: str, instance: str | None) -> str:
    """How people see an environment: `production (gitlab.example.com)` on an instance."""
    return environment if instance is None else f"{environment} ({instance})"


class InstanceEnvironment(Refusal):
    """Applications evaluate no environment a GitLab instance holds: the instance does."""


def refuse_instance_environment(store: object, environment: str, who: str) -> None:
    """Raise when `environment`'s states live on a GitLab instance, whoever says so:
    the bot's routing store, or the database the bot shares with applications."""
    instance = instance_of(store, environment)
    if instance is None and isinstance(store, RecordsInstances):
        instance = store.recorded_instance(environment)
    if instance is not None:
        raise InstanceEnvironment(
            f"{who} cannot evaluate {environment}: its flags live on the GitLab instance "
            f"{instance}, which evaluates them itself (Feature.enabled? there)"
        )


def iter_records(records: list[AuditRecord]) -> Iterator[AuditRecord]:
    """Newest first, ties broken by insertion order (latest first)."""
    return iter(sorted(records, key=lambda r: (r.at, r.id or 0), reverse=True))
