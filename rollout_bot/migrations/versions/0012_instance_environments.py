"""Environments on a GitLab instance: which ones, the instance on audit rows, unsettled writes.

Revision ID: 0012_instance_environments
Revises: 0011_adopted_issues
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_instance_environments"
down_revision = "0011_adopted_issues"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: SQLite adds it without rebuilding the table; own-store rows keep NULL.
    op.add_column("flag_audit", sa.Column("instance", sa.String(255), nullable=True))
    op.create_table(
        "flag_instances",
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "instance_writes",
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("feature", sa.String(255), primary_key=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instance_writes")
    op.drop_table("flag_instances")
    with op.batch_alter_table("flag_audit") as batch:
        batch.drop_column("instance")
