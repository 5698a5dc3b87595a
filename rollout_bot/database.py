"""Engines and migrations: one place that knows SQLite from PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes a second
    # writer wait for the lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN")


def sqlite_transactions(engine: Engine) -> None:
    """SQLAlchemy's recipe: SQLAlchemy, not pysqlite, begins SQLite transactions.

    pysqlite sends no BEGIN before a SAVEPOINT, so SQLite takes the savepoint as
    the outermost transaction and RELEASE commits it; a host application using
    savepoints would commit half a transaction
    (https://docs.sqlalchemy.org/en/21/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl).
    Idempotent; connections made before it keep pysqlite's behaviour, so it disposes them.

    Not applied by `make_engine`: with SQLite's deferred BEGIN, a transaction
    that reads and then writes fails at once ("database is locked") when another
    writer committed in between, which pysqlite's late BEGIN avoids. rollout-bot
    uses no savepoints; a host application that does calls this on its engine.
    """
    if engine.dialect.name != "sqlite" or sa.event.contains(engine, "begin", _begin):
        return
    sa.event.listen(engine, "connect", _no_driver_transactions)
    sa.event.listen(engine, "begin", _begin)
    engine.dispose()


def make_engine(url: str) -> Engine:
    if is_sqlite(url):
        engine = sa.create_engine(url, connect_args={"timeout": 10})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
