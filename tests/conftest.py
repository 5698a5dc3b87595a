"""Shared fixtures: databases (SQLite file, PostgreSQL), stores, paths to the test data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flags.database import make_engine
from flags.memory_store import MemoryStore
from flags.sql_store import SqlStore
from flags.store import Store
from gitlab_ops.instance_store import RoutedStore
from rollout_bot import database
from tests.fake_gitlab import FakeGitLab
from tests.instance_env import seed_instance

pytest_plugins = ["tests.snowplow_collector.fixtures", "tests.fake_gitlab.fixtures"]

REPO = Path(__file__).resolve().parent.parent
# Data written for these tests, so a clone runs them alone; the public reference data
# (beside the project, not in it) is checked by conformance/, run by ./scripts/conformance.
FIXTURES = REPO / "tests" / "fixtures"
# Every flag type, and the shapes GitLab's files take (comments, quoting, empty values).
DEFINITIONS = FIXTURES / "feature_flags"
# One file per validation rule, each with exactly the errors its name says.
BROKEN_DEFINITIONS = FIXTURES / "feature_flags_broken"

PG_ADMIN_URL = os.environ.get(
    "ROLLOUT_BOT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local server, migrated to head, dropped at the end."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rollout_bot_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        # Every test runs everywhere: a missing server is a failure, never a skip.
        pytest.fail(
            f"PostgreSQL not reachable at {PG_ADMIN_URL} (set ROLLOUT_BOT_TEST_POSTGRES): "
            f"{str(exc).splitlines()[0]}"
        )
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    database.upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


KEEP_TABLES = {"alembic_version", "flag_versions"}


def _truncate(engine: sa.Engine) -> None:
    """Empty every table the migrations made, whichever package owns it."""
    reflected = sa.MetaData()
    reflected.reflect(engine)
    with engine.begin() as conn:
        for table in reversed(reflected.sorted_tables):
            if table.name not in KEEP_TABLES:
                conn.execute(table.delete())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'rollout-bot.sqlite3'}"
    database.upgrade(url)
    return url


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(postgres_url)
    _truncate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def instance_store(sqlite_engine: sa.Engine, fake_gitlab: FakeGitLab) -> Iterator[RoutedStore]:
    """Production and staging each on a GitLab instance of its own (two fakes), the rest
    and the audit in SQLite."""
    with FakeGitLab() as other:
        # The flags the shared suites use: the store suite's, and test_commands'.
        flags = ("f", "g", "rollout_flag")
        production = seed_instance(fake_gitlab, "production", flags)
        staging = seed_instance(other, "staging", flags)
        yield RoutedStore(
            SqlStore(sqlite_engine),
            {"production": production.features(), "staging": staging.features()},
        )


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "instance",
    ]
)
def store(request: pytest.FixtureRequest) -> Store:
    """Every store the shared adapter suite runs against."""
    if request.param == "memory":
        return MemoryStore()
    if request.param == "instance":
        routed: RoutedStore = request.getfixturevalue("instance_store")
        return routed
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return SqlStore(engine)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database URL of each real kind."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    engine: sa.Engine = request.getfixturevalue("postgres_engine")
    return engine.url.render_as_string(hide_password=False)
