"""Flags under a failing store: last states keep serving, counted, timed, one log line per outage.

The PostgreSQL cut goes through a loopback proxy that only this test's reader
uses, so the server and every other test are untouched.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flags.database import make_engine
from flags.engine import Flags
from flags.sql_store import SqlStore
from flags.state import FlagState
from flags.store import Snapshot
from flags.store_health import COLD_START, OUTAGE_ENDED, OUTAGE_STARTED
from tests.tcp_proxy import TcpProxy
from tests.test_engine import FLAG, Clock, CountingStore, put, registry
from webhook import metrics


def logged(caplog: pytest.LogCaptureFixture, message: str) -> int:
    return sum(1 for record in caplog.records if record.msg == message)


def scrape(engine: sa.Engine, flags: Flags) -> dict[str, float]:
    text = generate_latest(metrics.registry(engine, [metrics.FlagsCollector(flags)])).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("rollout_bot_flags_")
    }


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def read_for(flags: Flags, seconds: float) -> tuple[set[bool], float]:
    """Read the flag for `seconds`: the answers seen and the slowest read."""
    answers: set[bool] = set()
    slowest = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        answers.add(flags.enabled(FLAG, "User:1"))
        slowest = max(slowest, time.perf_counter() - start)
        time.sleep(0.01)
    return answers, slowest


@pytest.fixture
def proxied(postgres_engine: sa.Engine) -> Iterator[tuple[TcpProxy, sa.Engine]]:
    url = postgres_engine.url
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
        yield proxy, engine
        engine.dispose()


@pytest.mark.postgres
def test_postgres_cut_mid_run_serves_the_last_states(
    postgres_engine: sa.Engine,
    proxied: tuple[TcpProxy, sa.Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="flags.engine")
    proxy, engine = proxied
    elsewhere = SqlStore(postgres_engine)
    put(elsewhere, FlagState(boolean=True))
    flags = Flags(SqlStore(engine), registry(), check_interval=0.1, threaded=True)
    try:
        assert flags.enabled(FLAG, "User:1") is True
        assert (flags.store_errors_total, flags.serving_defaults) == (0, False)
        before = scrape(postgres_engine, flags)
        assert before["rollout_bot_flags_store_errors_total"] == 0
        assert before["rollout_bot_flags_state_age_seconds"] < 1

        proxy.close()
        put(elsewhere, FlagState())  # turned off while this reader cannot see it
        answers, slowest = read_for(flags, 1.5)
        assert answers == {True}  # the last confirmed state, never an exception
        assert slowest < 0.05  # reads never wait on the dead connection
        assert flags.store_errors_total >= 3
        assert flags.state_age_seconds > 1.0
        during = scrape(postgres_engine, flags)
        assert during["rollout_bot_flags_store_errors_total"] >= 3
        assert during["rollout_bot_flags_state_age_seconds"] > 1.0
        assert during["rollout_bot_flags_serving_defaults"] == 0
        assert logged(caplog, OUTAGE_STARTED) == 1
        assert logged(caplog, OUTAGE_ENDED) == 0
        assert "Traceback" not in caplog.text

        proxy.open()
        # Seen again within the check interval (plus a reconnect, with room for a busy machine).
        assert wait_for(lambda: flags.enabled(FLAG, "User:1") is False, 2.0)
        assert logged(caplog, OUTAGE_STARTED) == 1
        assert logged(caplog, OUTAGE_ENDED) == 1
        assert flags.state_age_seconds < 0.5
        errors = flags.store_errors_total
        read_for(flags, 0.3)
        assert flags.store_errors_total == errors  # the outage is over
    finally:
        flags.close()


@pytest.mark.postgres
def test_postgres_version_check_has_a_statement_timeout(postgres_engine: sa.Engine) -> None:
    """A check stuck behind a lock fails after the bound instead of waiting with the caller."""
    store = SqlStore(postgres_engine, check_timeout=0.2)
    with postgres_engine.connect() as locker:
        locker.exec_driver_sql("LOCK TABLE flag_versions IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            store.version()
        took = time.monotonic() - start
        locker.rollback()
    assert 0.15 < took < 2
    # The bound was SET LOCAL: the pooled connection is unbounded again for others.
    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"


def test_sqlite_locked_database_is_an_outage_with_a_busy_timeout(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flags.engine")
    path = sa.make_url(sqlite_url).database
    assert path is not None
    # A host application's file in rollback-journal mode: a writer locks readers out.
    with sqlite3.connect(path) as plain:
        plain.execute("PRAGMA journal_mode=DELETE")
    plain.close()
    engine = sa.create_engine(sqlite_url)
    writer = make_engine(sqlite_url)
    flags = Flags(
        SqlStore(engine, check_timeout=0.2), registry(), check_interval=0.1, threaded=True
    )
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        assert flags.enabled(FLAG) is False
        locker.execute("BEGIN EXCLUSIVE")
        start = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            SqlStore(engine, check_timeout=0.2).version()
        assert 0.15 < time.monotonic() - start < 2  # the busy timeout, not pysqlite's 5 s
        answers, slowest = read_for(flags, 1.0)
        assert answers == {False} and slowest < 0.05
        assert flags.store_errors_total >= 2
        assert logged(caplog, OUTAGE_STARTED) == 1
        locker.execute("ROLLBACK")
        put(SqlStore(writer), FlagState(boolean=True))
        assert wait_for(lambda: flags.enabled(FLAG) is True, 2.0)
        assert logged(caplog, OUTAGE_ENDED) == 1
    finally:
        locker.close()
        flags.close()
        engine.dispose()
        writer.dispose()


def test_one_log_line_per_outage_and_the_age_grows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flags.engine")
    store, clock = CountingStore(), Clock()
    put(store.inner, FlagState(boolean=True))
    flags = Flags(store, registry(), check_interval=0.5, clock=clock, threaded=False)
    assert flags.enabled(FLAG)
    for outage in (1, 2):
        store.broken = True
        for _ in range(10):
            clock.now += 1
            assert flags.enabled(FLAG) is True
        assert flags.state_age_seconds == 10
        store.broken = False
        clock.now += 1
        assert flags.enabled(FLAG) and flags.state_age_seconds == 0
        assert (logged(caplog, OUTAGE_STARTED), logged(caplog, OUTAGE_ENDED)) == (outage, outage)
    assert flags.store_errors_total == 20
    assert "Traceback" not in caplog.text


def test_cold_start_with_the_store_down_serves_defaults_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The chosen policy: defaults, an error line, a metric and an attribute; then the store."""
    caplog.set_level(logging.WARNING, logger="flags.engine")
    store, clock = CountingStore(), Clock()
    put(store.inner, FlagState(boolean=True))
    store.broken = True
    flags = Flags(store, registry(False), clock=clock, threaded=False)  # no I/O, never raises
    assert flags.enabled(FLAG) is False  # the definition's default, not the stored "on"
    assert flags.serving_defaults and flags.store_errors_total == 1
    clock.now += 1
    assert flags.enabled(FLAG) is False
    assert (logged(caplog, COLD_START), logged(caplog, OUTAGE_STARTED)) == (1, 0)
    store.broken = False
    clock.now += 1
    assert flags.enabled(FLAG) is True
    assert not flags.serving_defaults
    assert logged(caplog, OUTAGE_ENDED) == 1


def test_cold_start_is_reported_on_metrics(sqlite_engine: sa.Engine) -> None:
    down = make_engine("sqlite:////nonexistent-dir/flags.sqlite3")
    flags = Flags(SqlStore(down), registry(True))
    try:
        values = scrape(sqlite_engine, flags)
        assert values["rollout_bot_flags_serving_defaults"] == 1
        assert values["rollout_bot_flags_store_errors_total"] == 1
        assert flags.enabled(FLAG) is True  # the default of a default-on definition
    finally:
        flags.close()
        down.dispose()


class BlockingStore(CountingStore):
    """A store whose checks hang until released, like a database behind a dead network."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.blocking = False

    def version(self) -> int:
        if self.blocking:
            self.release.wait(10)
        return super().version()

    def snapshot(self) -> Snapshot:
        return super().snapshot()


def test_reads_never_wait_for_a_hanging_check() -> None:
    store = BlockingStore()
    flags = Flags(store, registry(), check_interval=0.05, threaded=True)
    try:
        assert flags.enabled(FLAG) is False  # the first read loads inline
        store.blocking = True
        put(store.inner, FlagState(boolean=True))
        answers, slowest = read_for(flags, 0.5)
        assert answers == {False} and slowest < 0.05
        store.blocking = False
        store.release.set()
        assert wait_for(lambda: flags.enabled(FLAG) is True, 2.0)
    finally:
        flags.close()


def test_an_idle_reader_still_sees_changes_within_the_interval() -> None:
    store = CountingStore()
    flags = Flags(store, registry(), check_interval=0.05, threaded=True)
    try:
        assert flags.enabled(FLAG) is False
        put(store.inner, FlagState(boolean=True))
        time.sleep(0.5)  # no read meanwhile: the poller, not the reads, checks
        assert flags.enabled(FLAG) is True
    finally:
        flags.close()
