"""Snowplow database event tracking: group_stages, the outbox, the senders' counters.

Revision ID: 0003_tracking
Revises: 0002_bot
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tracking"
down_revision = "0002_bot"
branch_labels = None
depends_on = None

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias).
BigIntegerKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "group_stages",
        sa.Column("id", BigIntegerKey, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("relative_position", sa.Integer, nullable=True),
        sa.Column("start_event_identifier", sa.Integer, nullable=False),
        sa.Column("end_event_identifier", sa.Integer, nullable=False),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("start_event_label_id", sa.BigInteger, nullable=True),
        sa.Column("end_event_label_id", sa.BigInteger, nullable=True),
        sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("custom", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("group_value_stream_id", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "group_id", "group_value_stream_id", "name", name="uq_group_stages_group_stream_name"
        ),
    )
    op.create_index("ix_group_stages_group_id", "group_stages", ["group_id"])
    op.create_table(
        "tracking_outbox",
        sa.Column("id", BigIntegerKey, primary_key=True, autoincrement=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_by", sa.String(128), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_table(
        "tracking_senders",
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


def downgrade() -> None:
    op.drop_table("tracking_senders")
    op.drop_table("tracking_outbox")
    op.drop_index("ix_group_stages_group_id", table_name="group_stages")
    op.drop_table("group_stages")
