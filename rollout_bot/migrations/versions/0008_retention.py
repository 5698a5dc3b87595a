"""Indexes for the retention purge: finished rows by age, remembered runs by age.

Revision ID: 0008_retention
Revises: 0007_delivery_leases
Create Date: 2026-12-16
"""

from __future__ import annotations

from alembic import op

revision = "0008_retention"
down_revision = "0007_delivery_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_status_finished", "inbox_deliveries", ["status", "finished_at"])
    op.create_index("ix_issue_updates_status_finished", "issue_updates", ["status", "finished_at"])
    op.create_index("ix_command_runs_created", "command_runs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_command_runs_created", table_name="command_runs")
    op.drop_index("ix_issue_updates_status_finished", table_name="issue_updates")
    op.drop_index("ix_inbox_status_finished", table_name="inbox_deliveries")
