"""Reading flags: cached per process, fresh across processes within a second, never raising."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from flags.database import make_engine
from flags.definitions import Definition, Registry
from flags.engine import Flags
from flags.memory_store import MemoryStore
from flags.sql_store import SqlStore
from flags.state import FlagState
from flags.store import AuditRecord, Snapshot, Store, Transaction

REPO = Path(__file__).resolve().parent.parent
FLAG = "rollout_flag"


def registry(default_enabled: bool = False) -> Registry:
    return Registry(
        definitions={
            FLAG: Definition(FLAG, "beta", default_enabled, "beta/rollout_flag.yml"),
        }
    )


class CountingStore:
    """A real MemoryStore that counts how often the engine reads it."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.version_calls = 0
        self.snapshot_calls = 0
        self.broken = False

    def version(self) -> int:
        self.version_calls += 1
        if self.broken:
            raise ConnectionError("database is down")
        return self.inner.version()

    def snapshot(self) -> Snapshot:
        self.snapshot_calls += 1
        if self.broken:
            raise ConnectionError("database is down")
        return self.inner.snapshot()

    def transaction(self) -> AbstractContextManager[Transaction]:
        return self.inner.transaction()

    def history(self, name: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        return self.inner.history(name, limit)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def put(store: Store, state: FlagState | None, env: str = "production") -> None:
    with store.transaction() as tx:
        tx.put(env, FLAG, state)


def test_the_default_applies_while_never_set() -> None:
    assert Flags(MemoryStore(), registry(False)).enabled(FLAG) is False
    assert Flags(MemoryStore(), registry(True)).enabled(FLAG) is True
    assert Flags(MemoryStore(), registry(True)).enabled(FLAG, "User:1") is True


def test_each_gate_opens() -> None:
    store = MemoryStore()
    flags = Flags(store, registry(), check_interval=0)
    put(store, FlagState(actors=frozenset({"User:1"})))
    assert flags.enabled(FLAG, "User:1") and not flags.enabled(FLAG, "User:2")
    assert not flags.enabled(FLAG)
    put(store, FlagState(groups=frozenset({"staff"})))
    flags.register_group("staff", lambda actor: str(actor).startswith("User:1"))
    assert flags.enabled(FLAG, "User:12") and not flags.enabled(FLAG, "User:2")
    put(store, FlagState(percentage_of_time=100))
    assert flags.enabled(FLAG)
    put(store, FlagState(boolean=True))
    assert flags.enabled(FLAG) and flags.enabled(FLAG, "User:2")


def test_actors_may_be_objects_with_a_flipper_id() -> None:
    class Group:
        flipper_id = "Group:7"

    store = MemoryStore()
    put(store, FlagState(actors=frozenset({"Group:7"})))
    assert Flags(store, registry()).enabled(FLAG, Group())


def test_other_environments_are_separate() -> None:
    store = MemoryStore()
    put(store, FlagState(boolean=True), env="staging")
    assert Flags(store, registry(), "staging").enabled(FLAG)
    assert not Flags(store, registry(), "production").enabled(FLAG)


def test_reads_are_cached_until_the_version_changes() -> None:
    store, clock = CountingStore(), Clock()
    flags = Flags(store, registry(), check_interval=0.5, clock=clock, threaded=False)
    for _ in range(1000):
        flags.enabled(FLAG, "User:1")
    assert (store.version_calls, store.snapshot_calls) == (1, 1)
    clock.now += 0.6
    flags.enabled(FLAG)
    assert (store.version_calls, store.snapshot_calls) == (2, 1)  # unchanged: no reload
    put(store.inner, FlagState(boolean=True))
    assert flags.enabled(FLAG) is False  # still inside the interval
    clock.now += 0.6
    assert flags.enabled(FLAG) is True
    assert store.snapshot_calls == 2


def test_evaluation_never_raises() -> None:
    store, clock = CountingStore(), Clock()
    store.broken = True
    flags = Flags(store, registry(True), clock=clock, threaded=False)
    assert flags.enabled(FLAG) is True  # the default, with the database down
    store.broken = False
    put(store.inner, FlagState())
    clock.now += 1
    assert flags.enabled(FLAG) is False
    store.broken = True
    clock.now += 1
    assert flags.enabled(FLAG) is False  # the last known state is kept


def test_a_bad_actor_or_group_answers_the_default() -> None:
    store = MemoryStore()
    put(store, FlagState(groups=frozenset({"boom"})))
    flags = Flags(store, registry(True))

    def boom(actor: object) -> bool:
        raise ValueError("broken predicate")

    flags.register_group("boom", boom)
    assert flags.enabled(FLAG, "User:1") is True
    assert flags.enabled(FLAG, object()) is True


def test_undefined_flags_are_off(caplog: pytest.LogCaptureFixture) -> None:
    flags = Flags(MemoryStore(), registry())
    assert flags.enabled("no_such_flag") is False
    assert flags.enabled("no_such_flag") is False
    assert caplog.text.count("no_such_flag is not defined") == 1


READER = textwrap.dedent(
    """
    import sys
    from flags.database import make_engine
    from flags.definitions import Definition, Registry
    from flags.engine import Flags
    from flags.sql_store import SqlStore

    registry = Registry(definitions={
        "rollout_flag": Definition("rollout_flag", "beta", False, "beta/rollout_flag.yml")})
    flags = Flags(SqlStore(make_engine(sys.argv[1])), registry, check_interval=0.5)
    for line in sys.stdin:
        print("true" if flags.enabled("rollout_flag", "User:1") else "false", flush=True)
    """
)


@pytest.fixture
def reader(database_url: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-c", READER, database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    yield database_url, process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


def ask(process: subprocess.Popen[str]) -> str:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("read\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def test_a_write_in_one_process_is_seen_by_another_within_a_second(
    reader: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = reader
    assert ask(process) == "false"
    engine = make_engine(url)
    try:
        put(SqlStore(engine), FlagState(boolean=True))
        time.sleep(1.0)
        assert ask(process) == "true"
        put(SqlStore(engine), FlagState())
        time.sleep(1.0)
        assert ask(process) == "false"
    finally:
        engine.dispose()
