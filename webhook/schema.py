"""The webhook side's table: the durable inbox of deliveries."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# status: pending -> processing (leased to a worker) -> done | failed
inbox_deliveries = sa.Table(
    "inbox_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_key", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("project_id", sa.BigInteger, nullable=True),
    sa.Column("issue_iid", sa.BigInteger, nullable=True),
    # One issue at a time: deliveries of one issue_key run in arrival order.
    sa.Column("issue_key", sa.String(64), nullable=False),
    sa.Column("event_uuid", sa.String(64), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("locked_by", sa.String(128), nullable=True),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_inbox_status_next", "status", "next_attempt_at"),
    sa.Index("ix_inbox_issue_key", "issue_key", "id"),
    sa.Index("ix_inbox_status_finished", "status", "finished_at"),  # the retention purge
)

# One row per delivery that comments: inserted before the comment is posted (the
# intent), its note id written after (`webhook.comment_ledger`).
delivery_comments = sa.Table(
    "delivery_comments",
    metadata,
    sa.Column("delivery_key", sa.String(255), primary_key=True),
    sa.Column("note_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
