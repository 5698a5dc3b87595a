"""Wiring settings to a database, a store and the flag definitions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from flags import definitions
from flags.actors import NumericResolver, Resolver
from flags.commands import Context
from flags.database import is_sqlite, make_engine
from flags.definitions import Registry
from flags.sql_store import SqlStore
from rollout_bot import database
from rollout_bot.config import ConfigError, Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: SqlStore
    registry: Registry

    def context(self, who: str, source: str, resolver: Resolver | None = None) -> Context:
        return Context(
            store=self.store,
            registry=self.registry,
            environments=self.settings.environments,
            resolver=resolver or NumericResolver(),
            who=who,
            source=source,
        )


def open_runtime(settings: Settings) -> Runtime:
    """Connect; SQLite is migrated on the spot, PostgreSQL must have been upgraded."""
    engine = make_engine(settings.database_url)
    if is_sqlite(settings.database_url):
        if not database.is_up_to_date(engine):
            database.upgrade(settings.database_url)
    elif not database.is_up_to_date(engine):
        engine.dispose()
        raise ConfigError(
            "the database schema is not up to date: run `rollout-bot db upgrade` first"
        )
    registry = definitions.load(settings.definitions)
    return Runtime(settings, engine, SqlStore(engine), registry)
