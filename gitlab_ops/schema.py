"""The rollout issues the bot opened or adopted, each with the flag it rolls out."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

rollout_issues = sa.Table(
    "rollout_issues",
    metadata,
    sa.Column("project_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("issue_iid", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("flag", sa.String(255), nullable=False),
    sa.Column("web_url", sa.String(1024), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

issue_renderings = sa.Table(
    "issue_renderings",
    metadata,
    sa.Column("project_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("issue_iid", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("template_version", sa.Integer, nullable=False),
    # templates.render.IssueValues as JSON: what the bot rendered (or could recover) it with.
    sa.Column("template_values", sa.JSON, nullable=False),
    # "rendered" when the bot opened the issue, "recovered" by `issue record-steps`,
    # "adopted" by `issue adopt` or `/rollout-bot adopt`.
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["project_id", "issue_iid"],
        ["rollout_issues.project_id", "rollout_issues.issue_iid"],
        ondelete="CASCADE",
    ),
)
"""How each rollout issue was rendered: one row per issue whose steps are bound."""

step_shapes = sa.Table(
    "step_shapes",
    metadata,
    sa.Column("project_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("issue_iid", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("step", sa.String(255), primary_key=True),
    # templates.step_shapes.CommandShape as JSON.
    sa.Column("shape", sa.JSON, nullable=False),
    sa.ForeignKeyConstraint(
        ["project_id", "issue_iid"],
        ["issue_renderings.project_id", "issue_renderings.issue_iid"],
        ondelete="CASCADE",
    ),
)
"""The command shape each step of a rollout issue may run; a step without a row runs nothing."""

issue_adoptions = sa.Table(
    "issue_adoptions",
    metadata,
    sa.Column("project_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("issue_iid", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("adopted_by", sa.String(255), nullable=False),
    # What asked for it: the `/rollout-bot adopt` comment's delivery, or the CLI run; a retry
    # of the same request answers again from `report` instead of "already adopted".
    sa.Column("request_key", sa.String(255), nullable=False),
    # templates.adoption_report.AdoptionReport as JSON: the steps (ticked ones recorded as
    # done, never run) and the lines left inert.
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["project_id", "issue_iid"],
        ["rollout_issues.project_id", "rollout_issues.issue_iid"],
        ondelete="CASCADE",
    ),
)
"""Rollout issues opened by hand and adopted by the bot: one row per adopted issue."""

instance_writes = sa.Table(
    "instance_writes",
    metadata,
    sa.Column("environment", sa.String(64), primary_key=True),
    sa.Column("feature", sa.String(255), primary_key=True),
    # flags.state.FlagState.gates() as JSON; NULL: never set (the definition's default)
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
"""Writes sent to a GitLab instance whose change the bot's database has not recorded
(the answer never came, or a later write failed): the retried step finds the instance
already changed and records the change once, from the state before it."""
