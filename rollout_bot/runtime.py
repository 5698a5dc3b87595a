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
from gitlab_ops.instance_features import Instance, InstanceFeatures, UnconfiguredInstance
from gitlab_ops.instance_store import RoutedStore
from rollout_bot import database
from rollout_bot.config import ConfigError, Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: SqlStore | RoutedStore  # RoutedStore when an instance holds an environment
    registry: Registry

    @property
    def database_store(self) -> SqlStore:
        """The bot's own database: audit, remembered runs, the local environments."""
        return self.store.base if isinstance(self.store, RoutedStore) else self.store

    def context(self, who: str, source: str, resolver: Resolver | None = None) -> Context:
        return Context(
            store=self.store,
            registry=self.registry,
            environments=self.settings.environments,
            resolver=resolver or NumericResolver(),
            # An instance numbers its own projects and users: its targets resolve there.
            resolvers=dict(self.store.instances) if isinstance(self.store, RoutedStore) else {},
            who=who,
            source=source,
        )


def open_runtime(settings: Settings, *, service: bool = False) -> Runtime:
    """Connect; SQLite is migrated on the spot, PostgreSQL must have been upgraded.

    ``service``: this process is the bot itself (`serve`, `worker`), whose settings say
    which environments live on a GitLab instance (see `make_store`)."""
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
    return Runtime(settings, engine, make_store(settings, engine, service=service), registry)


def make_store(
    settings: Settings, engine: Engine, *, service: bool = False
) -> SqlStore | RoutedStore:
    """The database's store, routed to a GitLab instance for each environment given one.

    The database records which environments those are, so applications reading it
    (`flags.Flags`, `tracking.install`) refuse them instead of serving stale copies.
    Only the service's settings may say "none": a CLI run from a shell that lacks the
    instance settings must not erase the record applications rely on.
    """
    database = SqlStore(engine)
    recorded = {} if service else database.recorded_instances()
    instances: dict[str, Instance] = {
        env: InstanceFeatures(env, instance.url, instance.token, timeout=instance.timeout)
        for env, instance in settings.instances.items()
    }
    held = {env: found.name for env, found in instances.items()}
    if service:
        database.record_instances(held)
    elif held:  # adds, never erases: the service's settings are the record
        database.record_instances({**recorded, **held})
    # What the service keeps on an instance this run has no settings for is refused here,
    # never read from or written to the database (where nothing would see it).
    for env, name in recorded.items():
        if env not in instances and env in settings.environments:
            instances[env] = UnconfiguredInstance(env, name)
    return RoutedStore(database, instances) if instances else database
