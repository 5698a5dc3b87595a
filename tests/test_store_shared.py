"""The shared adapter suite: every store (memory, SQLite, PostgreSQL, and environments on
a GitLab instance's Features API through the fake GitLab) behaves alike.

Like Flipper's `shared_adapter_test.rb`, these tests only use the Store interface.
"""

from __future__ import annotations

import threading

import pytest

from flags.state import FlagState
from flags.store import AuditRecord, Store


def record(flag: str = "f", env: str = "production", gate: str = "boolean") -> AuditRecord:
    return AuditRecord(
        environment=env,
        flag=flag,
        action="set",
        gate=gate,
        before=False,
        after=True,
        who="alice",
        source="cli",
    )


def test_a_new_store_is_empty(store: Store) -> None:
    snapshot = store.snapshot()
    assert snapshot.states == {}
    assert snapshot.get("production", "f") is None
    assert store.history() == []


def test_put_get_roundtrip_of_every_gate(store: Store) -> None:
    state = FlagState(
        boolean=False,
        actors=frozenset({"User:1", "Project:2"}),
        percentage_of_actors=12.5,
        percentage_of_time=3,
        groups=frozenset({"staff"}),
    )
    with store.transaction() as tx:
        tx.put("staging", "f", state)
        assert tx.get("staging", "f") == state
    assert store.snapshot().get("staging", "f") == state
    assert store.snapshot().get("production", "f") is None
    with store.transaction() as tx:
        assert tx.get("staging", "f") == state


def test_an_explicit_off_state_is_not_the_same_as_never_set(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("production", "f", FlagState())
    assert store.snapshot().get("production", "f") == FlagState()
    with store.transaction() as tx:
        tx.put("production", "f", None)
    assert store.snapshot().get("production", "f") is None


def test_replacing_a_state_drops_old_gate_values(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("production", "f", FlagState(actors=frozenset({"User:1", "User:2"})))
    with store.transaction() as tx:
        tx.put("production", "f", FlagState(boolean=True))
    assert store.snapshot().get("production", "f") == FlagState(boolean=True)


def test_every_commit_raises_the_version(store: Store) -> None:
    start = store.version()
    with store.transaction() as tx:
        tx.put("production", "f", FlagState(boolean=True))
    after_one = store.version()
    assert after_one > start
    with store.transaction() as tx:
        tx.record(record())
    assert store.version() > after_one
    assert store.snapshot().version == store.version()


def test_a_transaction_without_changes_keeps_the_version(store: Store) -> None:
    start = store.version()
    with store.transaction() as tx:
        tx.get("production", "f")
    assert store.version() == start


def test_an_exception_discards_everything(store: Store) -> None:
    start = store.version()
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put("production", "f", FlagState(boolean=True))
        tx.record(record())
        raise RuntimeError("refused")
    assert store.snapshot().get("production", "f") is None
    assert store.history() == []
    assert store.version() == start


def test_history_is_newest_first_and_filtered(store: Store) -> None:
    with store.transaction() as tx:
        tx.record(record("f", gate="boolean"))
    with store.transaction() as tx:
        tx.record(record("g"))
    with store.transaction() as tx:
        tx.record(record("f", gate="actors"))
    rows = store.history("f")
    assert [r.gate for r in rows] == ["actors", "boolean"]
    assert all(r.flag == "f" and r.who == "alice" and r.source == "cli" for r in rows)
    assert rows[0].at.tzinfo is not None
    assert [r.flag for r in store.history()] == ["f", "g", "f"]
    assert len(store.history(limit=1)) == 1


def test_audit_values_keep_their_json_shape(store: Store) -> None:
    with store.transaction() as tx:
        tx.record(
            AuditRecord(
                environment="production",
                flag="f",
                action="delete",
                gate="all",
                before={"boolean": True, "actors": ["User:1"]},
                after=None,
                who="bot",
                source="gitlab-org/gitlab#1",
            )
        )
    (row,) = store.history("f")
    assert row.before == {"boolean": True, "actors": ["User:1"]}
    assert row.after is None


def test_concurrent_writers_do_not_lose_updates(store: Store) -> None:
    """Read-modify-write in transactions from several threads: every actor lands."""

    def add(actor: str) -> None:
        with store.transaction() as tx:
            current = tx.get("production", "f") or FlagState()
            tx.put("production", "f", FlagState(actors=current.actors | {actor}))

    threads = [threading.Thread(target=add, args=(f"User:{n}",)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = store.snapshot().get("production", "f")
    assert state is not None and state.actors == {f"User:{n}" for n in range(1, 9)}


def test_command_runs_are_remembered_with_their_change(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.recall("delivery-1:step-a") is None
        tx.put("production", "f", FlagState(boolean=True))
        tx.remember("delivery-1:step-a", {"changed": True, "envs": ["production"]})
    with store.transaction() as tx:
        assert tx.recall("delivery-1:step-a") == {"changed": True, "envs": ["production"]}
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.remember("delivery-2:step-a", {"changed": True})
        raise RuntimeError("crash before commit")
    with store.transaction() as tx:
        assert tx.recall("delivery-2:step-a") is None


def test_runs_remembered_outside_a_flag_transaction(store: Store) -> None:
    version = store.version()
    assert store.recall("delivery-3:ack") is None
    store.remember("delivery-3:ack", {"outcome": {"status": "acknowledged"}})
    store.remember("delivery-3:ack", {"outcome": {"status": "refused"}})  # the first wins
    assert store.recall("delivery-3:ack") == {"outcome": {"status": "acknowledged"}}
    assert store.version() == version  # no process reloads its flags for this
    with store.transaction() as tx:
        assert tx.recall("delivery-3:ack") == {"outcome": {"status": "acknowledged"}}
