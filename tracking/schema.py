"""The tables tracking owns: `group_stages`, the outbox, the senders' reports, sent counts.

All of them share one `MetaData`, the one Alembic compares (`migrations/env.py`).
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
    # Not before this (a failed batch's backoff); NULL: as soon as committed.
    # Claims go in this order, so a failing row never stays ahead of the rest.
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    # Set: a dead letter, never claimed, until `rollout-bot tracking retry`.
    sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
    # When `tracking retry` requeued it: the dead-letter age counts from here.
    sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True),
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

# Events the collector accepted, per hour (UTC), tracked table and operation.
# Settling adds to it in the transaction that deletes the sent rows, so each
# event counts once; nothing purges it with the outbox.
sent_hourly = sa.Table(
    "tracking_sent_hourly",
    metadata,
    sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("op", sa.String(16), primary_key=True),
    sa.Column("events", sa.BigInteger, nullable=False),
)

TRACKING_TABLES = (outbox, senders, sent_hourly)


def create_tables(engine: Engine) -> None:
    """Create the outbox, senders and sent-count tables where missing (not `group_stages`)."""
    metadata.create_all(engine, tables=list(TRACKING_TABLES), checkfirst=True)
