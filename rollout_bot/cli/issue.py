"""`rollout-bot issue`: rendering and opening rollout issues."""

from __future__ import annotations

import sys

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
    from templates.render import IssueValues, issue_title
    from templates.step_binding import render_with_shapes

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
    rendering = render_with_shapes(values, runtime.settings.environments)
    if dry_run:
        runtime.engine.dispose()
        click.echo(rendering.markdown, nl=False)
        return
    settings = runtime.settings
    if not settings.gitlab_url:
        runtime.engine.dispose()
        fail("opening an issue needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")

    all_labels = [FEATURE_FLAG_LABEL, *([values.group] if values.group else []), *labels]
    try:
        client = GitLab(settings.gitlab_url, settings.gitlab_token)
        issue = open_issue(
            runtime.engine, client, project, name, issue_title(name), rendering, all_labels
        )
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    click.echo(issue.web_url)


# What `issue record-steps` says, per issue.
RECORDED = "{url}: recorded the commands of {count} step(s)"
ALREADY_RECORDED = "{url}: already recorded"
UNREADABLE = "{url}: could not read the issue: {error}"
UNSHAPED = "  {step}: no command recorded, it runs nothing: {why}"
UNSHAPED_EARLIER = "  {step}: no command recorded, it runs nothing"


@issue_group.command("record-steps")
def issue_record_steps() -> None:
    """Record the step commands of rollout issues opened before the bot recorded them.

    Each step whose command still has its template's shape is bound to it; the
    others are listed and never run. Issues already recorded are left as they are.
    """
    from gitlab_ops.client import GitLab
    from gitlab_ops.step_records import record_missing

    runtime = open_cli_runtime()
    settings = runtime.settings
    try:
        if not settings.gitlab_url:
            fail("reading the issues needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")
        client = GitLab(settings.gitlab_url, settings.gitlab_token)
        reports = record_missing(runtime.engine, client, settings.environments)
    finally:
        runtime.engine.dispose()
    for report in reports:
        if report.status == "unreadable":
            click.echo(UNREADABLE.format(url=report.web_url, error=report.error), err=True)
            continue
        if report.status == "recorded":
            click.echo(RECORDED.format(url=report.web_url, count=len(report.recorded)))
        else:
            click.echo(ALREADY_RECORDED.format(url=report.web_url))
        for step, why in report.unshaped.items():
            line = UNSHAPED_EARLIER if why is None else UNSHAPED
            click.echo(line.format(step=step, why=why))
    if any(report.status == "unreadable" for report in reports):
        sys.exit(1)


# What `issue adopt` says.
ADOPTED = (
    "{url}: adopted for `{flag}`: {count} step(s) marked, {ticked} already ticked "
    "(recorded as done, not run), {inert} line(s) left inert"
)
ALREADY = "{url}: already a rollout issue of `{flag}`; nothing changed"
CLI_ADOPTER = "a terminal (`rollout-bot issue adopt`)"


@issue_group.command("adopt")
@click.argument("issue_url")
def issue_adopt(issue_url: str) -> None:
    """Make ISSUE_URL, a rollout issue opened by hand from GitLab's template, a control panel.

    The bot inserts its hidden step markers and nothing else, records the steps' commands
    as for the issues it opens (ticked boxes as done, not run), and comments what it
    recognised and which lines it left inert. Adopting again changes nothing.
    """
    from gitlab_ops import issue_updates
    from gitlab_ops.adoption import adopt_issue, parse_issue_url
    from gitlab_ops.client import GitLab
    from gitlab_ops.errors import GitLabError
    from rollout_bot.issue_notice import post_now
    from templates.adoption_report import adoption_comment
    from templates.state_note import update_marker

    runtime = open_cli_runtime()
    settings = runtime.settings
    try:
        if not settings.gitlab_url:
            fail("adopting an issue needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")
        path, iid = parse_issue_url(issue_url)
        client = GitLab(settings.gitlab_url, settings.gitlab_token)
        project_id = client.project_id(path)
        key = issue_updates.new_key()
        adopted = adopt_issue(
            runtime.engine,
            client,
            project_id,
            iid,
            registry=runtime.registry,
            environments=settings.environments,
            who=CLI_ADOPTER,
            request_key=f"cli:{key}",
        )
        if adopted.report is None:
            click.echo(ALREADY.format(url=adopted.web_url, flag=adopted.flag))
            return
        body = adoption_comment(update_marker(key), CLI_ADOPTER, adopted.report)
        post_now(runtime, project_id, iid, adopted.flag, adopted.web_url, body, key)
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    report = adopted.report
    click.echo(
        ADOPTED.format(
            url=adopted.web_url,
            flag=adopted.flag,
            count=len(report.placed),
            ticked=len(report.ticked),
            inert=len(report.inert),
        )
    )
    for item in report.inert:
        click.echo(f"  line {item.line}: {item.text}: {item.reason}")
