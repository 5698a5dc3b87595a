"""`rollout-bot issue`: rendering and opening rollout issues."""

from __future__ import annotations

import click

from flags.commands import undefined_refusal
from flags.errors import Refusal
from rollout_bot.cli.common import fail, open_cli_runtime


@click.group("issue")
def issue_group() -> None:
    """Rollout issues."""


@issue_group.command("create")
@click.argument("name")
@click.option("--project", required=True, help="GROUP/PROJECT or its id")
@click.option("--dry-run", is_flag=True, help="print the markdown instead of opening the issue")
@click.option("--feature-issue", default=None, help="the feature issue's URL")
@click.option("--introduced-by", default=None, help="the introducing MR's URL")
@click.option("--group", "team", default=None, help="the team label, e.g. group::analytics")
@click.option("--channel", default=None, help="the team's Slack channel")
@click.option("--dri", default=None, help="the best individual to reach out to (username)")
@click.option("--pm", default=None, help="the product manager (username)")
@click.option("--sha", default=None, help="the merge commit, for auto_deploy status")
@click.option("--actor-project", multiple=True, help="a project for the project-actor step")
@click.option("--actor-group", multiple=True, help="a group for the group-actor step")
@click.option("--actor-user", multiple=True, help="a user for the user-actor step")
@click.option("--summary", default=None, help="what is rolled out")
@click.option("--expectations", default=None, help="what we expect to happen")
@click.option("--label", "labels", multiple=True, help="extra labels")
def issue_create(
    name: str,
    project: str,
    dry_run: bool,
    feature_issue: str | None,
    introduced_by: str | None,
    team: str | None,
    channel: str | None,
    dri: str | None,
    pm: str | None,
    sha: str | None,
    actor_project: tuple[str, ...],
    actor_group: tuple[str, ...],
    actor_user: tuple[str, ...],
    summary: str | None,
    expectations: str | None,
    labels: tuple[str, ...],
) -> None:
    """Render the rollout issue of NAME and open it in the project."""
    from gitlab_ops.client import GitLab
    from gitlab_ops.errors import GitLabError
    from gitlab_ops.issues import FEATURE_FLAG_LABEL, open_issue
    from templates.render import IssueValues, issue_title, render_issue

    runtime = open_cli_runtime()
    name = name.strip("`")
    definition = runtime.registry.get(name)
    try:
        if definition is None:
            raise undefined_refusal(runtime.registry, name)
        overrides = {
            key: value
            for key, value in {
                "feature_issue_url": feature_issue,
                "introduced_by_url": introduced_by,
                "group": team,
            }.items()
            if value
        }
        values = IssueValues.from_definition(
            definition,
            **overrides,
            team_slack_channel=channel,
            dri_username=dri,
            pm_username=pm,
            merge_commit_sha=sha,
            actor_projects=actor_project,
            actor_groups=actor_group,
            actor_users=actor_user,
            summary=summary,
            expectations=expectations,
        )
    except (Refusal, ValueError, TypeError) as exc:
        runtime.engine.dispose()
        fail(str(exc))
    markdown = render_issue(values)
    if dry_run:
        runtime.engine.dispose()
        click.echo(markdown, nl=False)
        return
    settings = runtime.settings
    if not settings.gitlab_url:
        runtime.engine.dispose()
        fail("opening an issue needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")

    all_labels = [FEATURE_FLAG_LABEL, *([values.group] if values.group else []), *labels]
    try:
        client = GitLab(settings.gitlab_url, settings.gitlab_token)
        issue = open_issue(
            runtime.engine, client, project, name, issue_title(name), markdown, all_labels
        )
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    click.echo(issue.web_url)
