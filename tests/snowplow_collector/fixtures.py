"""The tracking tests' fixtures; test modules load them with `pytest_plugins`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.engine import Flags
from flags.sql_store import SqlStore
from tests.snowplow_collector import Collector
from tests.snowplow_collector.stack import ENVIRONMENT, ON, Stack


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running
    assert running.errors == []


@pytest.fixture
def stack(database_url: str, collector: Collector) -> Iterator[Stack]:
    """The flag on in production, a tracker installed on a fresh sessionmaker."""
    engine = make_engine(database_url)
    store = SqlStore(engine)
    flags = Flags(store, load(configured_roots()), ENVIRONMENT)
    built = Stack(database_url, engine, sessionmaker(engine), store, flags, collector)
    built.set_flag(ON)
    built.install()
    try:
        yield built
    finally:
        for tracker in built.trackers:
            tracker.close(2.0)
        # A sender still posting at close settles once its request ends; let it, so no
        # thread uses the engine after it is disposed (its new connections would leak).
        stop_senders()
        for extra in built.engines:
            extra.dispose()
        engine.dispose()


def stop_senders(timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name == "tracking-sender":
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), "a tracking sender outlived its tracker's close"
