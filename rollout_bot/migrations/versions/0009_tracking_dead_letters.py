"""Tracking outbox: backoff per row, dead letters, and per-hour sent counts.

Revision ID: 0009_tracking_dead_letters
Revises: 0008_retention
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_tracking_dead_letters"
down_revision = "0008_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them without rebuilding the table.
    op.add_column(
        "tracking_outbox", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "tracking_outbox", sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "tracking_outbox", sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "tracking_sent_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("table_name", sa.String(128), primary_key=True),
        sa.Column("op", sa.String(16), primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracking_sent_hourly")
    with op.batch_alter_table("tracking_outbox") as batch:
        batch.drop_column("requeued_at")
        batch.drop_column("dead_at")
        batch.drop_column("next_attempt_at")
