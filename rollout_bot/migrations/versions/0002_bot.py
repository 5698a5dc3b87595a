"""The webhook inbox, the rollout issues, and idempotent command runs.

Revision ID: 0002_bot
Revises: 0001_flags
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_bot"
down_revision = "0001_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_key", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("project_id", sa.Integer, nullable=True),
        sa.Column("issue_iid", sa.Integer, nullable=True),
        sa.Column("issue_key", sa.String(64), nullable=False),
        sa.Column("event_uuid", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(128), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_inbox_status_next", "inbox_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_inbox_issue_key", "inbox_deliveries", ["issue_key", "id"])
    op.create_table(
        "rollout_issues",
        sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("issue_iid", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("flag", sa.String(255), nullable=False),
        sa.Column("web_url", sa.String(1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "command_runs",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("command_runs")
    op.drop_table("rollout_issues")
    op.drop_index("ix_inbox_issue_key", table_name="inbox_deliveries")
    op.drop_index("ix_inbox_status_next", table_name="inbox_deliveries")
    op.drop_table("inbox_deliveries")
