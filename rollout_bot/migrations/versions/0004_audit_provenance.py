"""Audit rows say who stably: the GitLab user id, the delivery, the command line.

Revision ID: 0004_audit_provenance
Revises: 0003_tracking
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_provenance"
down_revision = "0003_tracking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table beyond adding plain columns.
    with op.batch_alter_table("flag_audit") as batch:
        batch.add_column(sa.Column("user_id", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("delivery", sa.String(255), nullable=True))
        batch.add_column(sa.Column("command", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flag_audit") as batch:
        batch.drop_column("command")
        batch.drop_column("delivery")
        batch.drop_column("user_id")
