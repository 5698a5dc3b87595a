"""The comment each delivery owes, recorded before it is posted.

Revision ID: 0007_delivery_leases
Revises: 0006_issue_updates
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_delivery_leases"
down_revision = "0006_issue_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_comments",
        sa.Column("delivery_key", sa.String(255), primary_key=True),
        sa.Column("note_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_comments")
