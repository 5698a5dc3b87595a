"""`rollout-bot db upgrade`: the schema, through Alembic."""

from __future__ import annotations

import click

from rollout_bot import database
from rollout_bot.cli.common import fail
from rollout_bot.config import ConfigError, Settings


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration not yet applied."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        fail(str(exc))
    database.upgrade(settings.database_url)
    click.echo(f"database at revision {database.head_revision()}")
