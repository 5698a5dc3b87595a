"""The tables tracking owns: `group_stages`, the outbox and the senders' reports.

All three share one `MetaData`, the one Alembic compares (`migrations/env.py`).
A host application with its own migrations calls `create_tables(engine)` for
the two tracking tables; its models stay its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias).
BigIntegerKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

outbox = sa.Table(
    "tracking_outbox",
    metadata,
    sa.Column("id", BigIntegerKey, primary_key=True, autoincrement=True),
    # The Snowplow payload as snowplow-tracker built it at flush time, event id
    # included, so every retry sends the same event.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_by", sa.String(128), nullable=True),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

# One row per sending process: its counters since it started, so that
# `rollout-bot tracking status` can sum what every process did.
senders = sa.Table(
    "tracking_senders",
    metadata,
    sa.Column("process", sa.String(128), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("queued", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("sent", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("retried", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("dropped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
)

TRACKING_TABLES = (outbox, senders)


def create_tables(engine: Engine) -> None:
    """Create the outbox and senders tables where missing (not `group_stages`)."""
    metadata.create_all(engine, tables=list(TRACKING_TABLES), checkfirst=True)
