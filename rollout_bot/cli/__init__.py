"""`rollout-bot`: a thin click group over flags/, gitlab_ops/, webhook/ and tracking/.

One module per command group; this one only assembles them.
Exit codes: 0 success, 1 a refused command (one-line reason on stderr), 2 usage.
"""

from __future__ import annotations

import click

from rollout_bot.cli import cleanup, db, definitions, deploy, feature, inbox, issue, serve, tracking


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run feature-flag rollouts from GitLab issues."""


for command in (
    serve.serve,
    serve.worker,
    issue.issue_group,
    cleanup.cleanup_group,
    deploy.auto_deploy,
    deploy.release,
    inbox.inbox_group,
    db.db,
    definitions.definitions_group,
    feature.feature,
    tracking.tracking_group,
):
    main.add_command(command)
