"""Rollout issues opened by hand can be adopted: what each adoption recorded.

Revision ID: 0011_adopted_issues
Revises: 0010_bigint_ids
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_adopted_issues"
down_revision = "0010_bigint_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_adoptions",
        sa.Column("project_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("issue_iid", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("adopted_by", sa.String(255), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id", "issue_iid"],
            ["rollout_issues.project_id", "rollout_issues.issue_iid"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("issue_adoptions")
