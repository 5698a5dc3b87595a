"""The tracking tests' fixtures; test modules load them with `pytest_plugins`."""

from __future__ import annotations

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
        engine.dispose()
