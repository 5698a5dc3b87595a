"""The flag tables; Alembic's migrations in `rollout_bot/migrations` create them.

The gate rows follow Flipper's ActiveRecord adapter (`flipper_features`,
`flipper_gates`): one row per gate value, one per actor or group, so adding an
actor never rewrites the others. A flag with a row in `flag_features` was set
in that environment; without one, its definition's default applies.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

flag_features = sa.Table(
    "flag_features",
    metadata,
    sa.Column("environment", sa.String(64), primary_key=True),
    sa.Column("feature", sa.String(255), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

flag_gates = sa.Table(
    "flag_gates",
    metadata,
    sa.Column("environment", sa.String(64), primary_key=True),
    sa.Column("feature", sa.String(255), primary_key=True),
    sa.Column("gate", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(255), primary_key=True),
)

flag_versions = sa.Table(
    "flag_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

flag_audit = sa.Table(
    "flag_audit",
    metadata,
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
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("delivery", sa.String(255), nullable=True),
    sa.Column("command", sa.Text, nullable=True),
    # The GitLab instance holding the environment's states; NULL for the bot's own store.
    sa.Column("instance", sa.String(255), nullable=True),
    sa.Index("ix_flag_audit_feature_at", "feature", "at"),
)

# Environments whose states a GitLab instance holds (its Features API), as the bot was
# last configured: an application reading this database learns that its states for
# such an environment are not here, and `flags.Flags` refuses it.
flag_instances = sa.Table(
    "flag_instances",
    metadata,
    sa.Column("environment", sa.String(64), primary_key=True),
    sa.Column("instance", sa.String(255), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# What a command run with an idempotency key did (its result card, or its
# refusal), written in the transaction of its change: a delivery processed
# again after a crash finds it and applies nothing twice.
command_runs = sa.Table(
    "command_runs",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_command_runs_created", "created_at"),  # the retention purge
)

VERSION_ROW_ID = 1
