"""Alembic environment: runs online against the URL the caller configured."""

from __future__ import annotations

from alembic import context

from flags.database import make_engine
from flags.schema import metadata as flags_metadata
from gitlab_ops.schema import metadata as gitlab_metadata
from gitlab_ops.update_schema import metadata as updates_metadata
from tracking.schema import metadata as tracking_metadata
from webhook.schema import metadata as webhook_metadata

target_metadata = [
    flags_metadata,
    gitlab_metadata,
    updates_metadata,
    webhook_metadata,
    tracking_metadata,
]


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch mode copies a table and drops the old one; with enforcement on, that
            # drop would cascade to the rows referencing it. Alembic asks for it off
            # (https://alembic.sqlalchemy.org/en/latest/batch.html#dealing-with-referencing-foreign-keys),
            # and SQLite takes the pragma only outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            connection.commit()
            if broken:
                raise RuntimeError(f"migrations left rows without their parents: {broken}")
    engine.dispose()


run_migrations_online()
