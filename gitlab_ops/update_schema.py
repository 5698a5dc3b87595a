"""The queue of updates the bot owes rollout issues: comments and state note refreshes."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# status: pending -> processing (leased) -> done | failed, as in the webhook inbox.
issue_updates = sa.Table(
    "issue_updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Unique per update: a comment carries it as a hidden marker, so it is posted once.
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("project_id", sa.BigInteger, nullable=False),
    sa.Column("issue_iid", sa.BigInteger, nullable=False),
    # One issue at a time, in order: updates of one issue_key are posted in id order.
    sa.Column("issue_key", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # comment | state_note
    sa.Column("flag", sa.String(255), nullable=False),
    sa.Column("body", sa.Text, nullable=True),  # a comment's text; a note renders when posted
    # Set on a pending state note refresh only: one pending refresh per issue.
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
    sa.Index("ix_issue_updates_status_next", "status", "next_attempt_at"),
    sa.Index("ix_issue_updates_issue_key", "issue_key", "id"),
    sa.Index("ix_issue_updates_status_finished", "status", "finished_at"),  # retention
)
