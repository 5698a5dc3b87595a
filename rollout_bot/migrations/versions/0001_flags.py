"""Flag state, the cross-process version counter and the audit log.

Revision ID: 0001_flags
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_flags"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_features",
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("feature", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "flag_gates",
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("feature", sa.String(255), primary_key=True),
        sa.Column("gate", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
    )
    versions = op.create_table(
        "flag_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(versions, [{"id": 1, "version": 0}])
    op.create_table(
        "flag_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("gate", sa.String(32), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
    )
    op.create_index("ix_flag_audit_feature_at", "flag_audit", ["feature", "at"])


def downgrade() -> None:
    op.drop_index("ix_flag_audit_feature_at", table_name="flag_audit")
    op.drop_table("flag_audit")
    op.drop_table("flag_versions")
    op.drop_table("flag_gates")
    op.drop_table("flag_features")
