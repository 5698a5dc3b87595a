"""GitLab's project ids and issue iids are bigint: so are the columns that hold them.

Revision ID: 0010_bigint_ids
Revises: 0009_tracking_dead_letters
Create Date: 2026-12-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_bigint_ids"
down_revision = "0009_tracking_dead_letters"
branch_labels = None
depends_on = None

# Parents before children (rollout_issues <- issue_renderings <- step_shapes): on
# PostgreSQL a foreign key's columns change type with the key they reference.
TABLES = (
    "rollout_issues",
    "issue_renderings",
    "step_shapes",
    "inbox_deliveries",
    "issue_updates",
)
COLUMNS = ("project_id", "issue_iid")


def _retype(old: type[sa.types.TypeEngine[int]], new: type[sa.types.TypeEngine[int]]) -> None:
    # batch mode: SQLite cannot ALTER a column's type, so it copies the table (the
    # migration environment turns its foreign key enforcement off meanwhile, as
    # Alembic's batch mode requires); PostgreSQL gets plain ALTER COLUMN ... TYPE.
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in COLUMNS:
                batch.alter_column(column, type_=new(), existing_type=old())


def upgrade() -> None:
    _retype(sa.Integer, sa.BigInteger)


def downgrade() -> None:
    _retype(sa.BigInteger, sa.Integer)
