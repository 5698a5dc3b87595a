"""The rollout issues the bot opened or adopted, each with the flag it rolls out."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

rollout_issues = sa.Table(
    "rollout_issues",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("issue_iid", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("flag", sa.String(255), nullable=False),
    sa.Column("web_url", sa.String(1024), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
