"""`rollout-bot auto-deploy status` and `rollout-bot release check`: where a change has reached."""

from __future__ import annotations

import sys

import click

from flags.errors import Refusal
from gitlab_ops.errors import GitLabError
from rollout_bot.cli.common import fail, gitlab_client


@click.command("auto-deploy")
@click.argument("what", type=click.Choice(["status"]))
@click.argument("sha")
@click.option("--project", required=True, help="GROUP/PROJECT or its id")
def auto_deploy(what: str, sha: str, project: str) -> None:
    """auto-deploy status SHA: which environments' last deployment contains SHA."""
    from gitlab_ops.deployments import auto_deploy_status
    from gitlab_ops.repository import Repository

    client = gitlab_client()
    try:
        answer = auto_deploy_status(Repository(client, project), sha)
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
    click.echo(answer.to_markdown())


@click.command("release")
@click.argument("what", type=click.Choice(["check"]))
@click.argument("merge_request_url")
@click.argument("milestone")
def release(what: str, merge_request_url: str, milestone: str) -> None:
    """release check MR_URL MILESTONE: is the MR's merge commit in a tag of MILESTONE."""
    from gitlab_ops.deployments import release_check

    client = gitlab_client()
    try:
        answer = release_check(client, merge_request_url, milestone)
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
    click.echo(answer.to_markdown())
    sys.exit(0 if answer.released else 1)
