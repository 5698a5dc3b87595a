"""Steps are bound to what the bot rendered: the template version, values and command shapes.

Revision ID: 0005_step_shapes
Revises: 0004_audit_provenance
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_step_shapes"
down_revision = "0004_audit_provenance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_renderings",
        sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("issue_iid", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("template_version", sa.Integer, nullable=False),
        sa.Column("template_values", sa.JSON, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id", "issue_iid"],
            ["rollout_issues.project_id", "rollout_issues.issue_iid"],
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "step_shapes",
        sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("issue_iid", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("step", sa.String(255), primary_key=True),
        sa.Column("shape", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id", "issue_iid"],
            ["issue_renderings.project_id", "issue_renderings.issue_iid"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("step_shapes")
    op.drop_table("issue_renderings")
