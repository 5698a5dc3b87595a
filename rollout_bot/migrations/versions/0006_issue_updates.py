"""The queue of comments and state note refreshes owed to rollout issues.

Revision ID: 0006_issue_updates
Revises: 0005_step_shapes
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_issue_updates"
down_revision = "0005_step_shapes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_updates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("issue_iid", sa.Integer, nullable=False),
        sa.Column("issue_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("flag", sa.String(255), nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("coalesce_key", sa.String(64), nullable=True, unique=True),
        sa.Column("event_uuid", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(128), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_issue_updates_status_next", "issue_updates", ["status", "next_attempt_at"])
    op.create_index("ix_issue_updates_issue_key", "issue_updates", ["issue_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_issue_updates_issue_key", table_name="issue_updates")
    op.drop_index("ix_issue_updates_status_next", table_name="issue_updates")
    op.drop_table("issue_updates")
