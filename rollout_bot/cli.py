"""`rollout-bot`: a thin click group over flags/, webhook/ and tracking/.

Exit codes: 0 success, 1 a refused command (one-line reason on stderr), 2 usage.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from flags import card, definitions
from flags.commands import execute, undefined_refusal
from flags.engine import Flags
from flags.grammar import FeatureCommand, Refusal, parse
from rollout_bot import database
from rollout_bot.config import ConfigError, Settings
from rollout_bot.runtime import Runtime, open_runtime
from tracking.status import tracking_group
from webhook.gitlab_api import GitLab, GitLabError

CLI_SOURCE = "cli"


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _runtime(*, local_trial: bool = False) -> Runtime:
    try:
        settings = Settings.from_env()
        if local_trial:
            settings = dataclasses.replace(settings, local_trial=True)
        return open_runtime(settings)
    except ConfigError as exc:
        _fail(str(exc))


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run feature-flag rollouts from GitLab issues."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn workers")
@click.option("--local-trial", is_flag=True, help="accept deliveries without a secret token")
@click.option("--no-worker", is_flag=True, help="only receive; run `rollout-bot worker` apart")
def serve(host: str, port: int, workers: int, local_trial: bool, no_worker: bool) -> None:
    """Serve the webhook, /healthz and /metrics with gunicorn, and an embedded worker."""
    from rollout_bot.server import run

    runtime = _runtime(local_trial=local_trial)
    try:
        run(runtime, host=host, port=port, workers=workers, embedded_worker=not no_worker)
    except ConfigError as exc:
        _fail(str(exc))


@main.command()
def worker() -> None:
    """Process the inbox until interrupted (SIGINT or SIGTERM)."""
    import signal
    import threading

    from rollout_bot.services import build_bot, build_worker

    runtime = _runtime()
    try:
        bot_worker = build_worker(runtime, build_bot(runtime))
    except ConfigError as exc:
        _fail(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    bot_worker.start()
    click.echo(f"worker {bot_worker.name} running {bot_worker.threads} threads", err=True)
    stop.wait()
    bot_worker.stop()
    runtime.engine.dispose()


@main.group("issue")
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
    from templates.render import IssueValues, issue_title, render_issue
    from webhook.gitlab_api import GitLab, GitLabError
    from webhook.issues import FEATURE_FLAG_LABEL, open_issue

    runtime = _runtime()
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
        _fail(str(exc))
    markdown = render_issue(values)
    if dry_run:
        runtime.engine.dispose()
        click.echo(markdown, nl=False)
        return
    settings = runtime.settings
    if not settings.gitlab_url:
        runtime.engine.dispose()
        _fail("opening an issue needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")

    all_labels = [FEATURE_FLAG_LABEL, *([values.group] if values.group else []), *labels]
    try:
        client = GitLab(settings.gitlab_url, settings.gitlab_token)
        issue = open_issue(
            runtime.engine, client, project, name, issue_title(name), markdown, all_labels
        )
    except (Refusal, GitLabError) as exc:
        _fail(str(exc))
    finally:
        runtime.engine.dispose()
    click.echo(issue.web_url)


@main.group("cleanup")
def cleanup_group() -> None:
    """Removing a flag after its rollout: check, rewrite, the MR, finish."""


@cleanup_group.command("check")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option(
    "--definitions",
    "definition_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="definition folders (default: config/feature_flags and ee/config/feature_flags)",
)
@click.option("--base", default=None, help="the merge request's base: check deleted definitions")
def cleanup_check(root: Path, definition_dirs: tuple[Path, ...], base: str | None) -> None:
    """Every defined flag is used, every evaluated flag defined, removed flags fully removed."""
    from flags.usage import check, definition_paths, references_to, scan, walk
    from rollout_bot.gitlocal import GitError, commits_without_trailer, deleted_definitions

    dirs = list(definition_dirs) or [
        d for d in (root / "config/feature_flags", root / "ee/config/feature_flags") if d.is_dir()
    ]
    registry = definitions.load(dirs)
    problems = [str(p) for p in registry.problems if p.severity == "error"]
    defined = definition_paths(registry, root)
    # The definition folders describe flags; nothing in them is a use of one.
    skipped = [d.resolve() for d in dirs]
    files = {
        path: text
        for path, text in walk(root).items()
        if not any((root / path).resolve().is_relative_to(d) for d in skipped)
    }
    deleted: dict[str, str] = {}
    if base is not None:
        try:
            deleted = deleted_definitions(root, base)
            missing_trailers = commits_without_trailer(root, base) if deleted else []
        except GitError as exc:
            _fail(str(exc))
        problems += [
            f"{commit}: removes a flag definition but has no `Changelog:` trailer"
            for commit in missing_trailers
        ]
    usage = scan(files, {**defined, **{name: path for name, path in deleted.items()}})
    report = check(usage, defined)
    problems += report.problems()
    for name in sorted(deleted):
        problems += [
            f"{path}:{line}: feature flag `{name}` was removed but is still referenced"
            for path, line in references_to(usage, name)
        ]
    click.echo(report.summary() + (f", {len(deleted)} removed" if base is not None else ""))
    for line in problems:
        click.echo(line)
    sys.exit(1 if problems else 0)


@cleanup_group.command("rewrite")
@click.argument("name")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
def cleanup_rewrite(name: str, paths: tuple[Path, ...]) -> None:
    """Remove NAME's checks from Python files in place; print what could not be rewritten."""
    from flags.cleanup import rewrite_project
    from flags.usage import walk

    name = name.strip("`")
    files: dict[str, str] = {}
    for path in paths or (Path("."),):
        if path.is_dir():
            files.update({str(path / rel): text for rel, text in walk(path).items()})
        else:
            files[str(path)] = path.read_text(encoding="utf-8")
    results = rewrite_project(files, name)
    for changed_path, result in results.items():
        if result.changed:
            Path(changed_path).write_text(result.code, encoding="utf-8")
            click.echo(f"rewrote {changed_path}")
        for leftover in result.leftovers:
            click.echo(f"left: {leftover}")
    if not any(r.changed for r in results.values()):
        click.echo("nothing to rewrite")


@cleanup_group.command("mr")
@click.argument("name")
@click.option("--project", required=True, help="GROUP/PROJECT or its id")
def cleanup_mr(name: str, project: str) -> None:
    """Open (or find) the merge request that removes NAME from the project."""
    from webhook import issues
    from webhook.gitlab_repo import Repository
    from webhook.merge_requests import open_cleanup

    runtime = _runtime()
    client = _gitlab_client()
    name = name.strip("`")
    located = issues.find_by_flag(runtime.engine, name)
    runtime.engine.dispose()
    try:
        opened = open_cleanup(Repository(client, project), name, located[2] if located else None)
    except (Refusal, GitLabError) as exc:
        _fail(str(exc))
    click.echo(("opened " if opened.created else "reused ") + opened.merge_request.web_url)
    if opened.plan is not None:
        for leftover in opened.plan.leftovers:
            click.echo(f"left: {leftover}")


@cleanup_group.command("finish")
@click.argument("name", required=False)
@click.option(
    "--deleted-since",
    default=None,
    help="finish every flag whose definition git "
    "shows deleted since this revision (CI: $CI_COMMIT_BEFORE_SHA)",
)
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--merge-request", default=None, help="the merged cleanup MR, for the comment")
def cleanup_finish(
    name: str | None, deleted_since: str | None, root: Path, merge_request: str | None
) -> None:
    """Delete the flag's state everywhere, tick the finished steps, comment, close the issue."""
    from rollout_bot.gitlocal import GitError, deleted_definitions
    from webhook.finish import finish

    if (name is None) == (deleted_since is None):
        raise click.UsageError("give either NAME or --deleted-since REV")
    if deleted_since is not None:
        try:
            names = sorted(deleted_definitions(root, deleted_since))
        except GitError as exc:
            _fail(str(exc))
        if not names:
            click.echo(f"no flag definition was deleted since {deleted_since}")
            return
    else:
        assert name is not None
        names = [name.strip("`")]
    runtime = _runtime()
    settings = runtime.settings
    client = GitLab(settings.gitlab_url, settings.gitlab_token) if settings.gitlab_url else None
    context = runtime.context(who=settings.user, source="cleanup finish")
    try:
        for flag in names:
            report = finish(runtime.engine, context, client, flag, merge_request=merge_request)
            for line in report.lines():
                click.echo(line)
    except GitLabError as exc:
        _fail(str(exc))
    finally:
        runtime.engine.dispose()
    if client is None:
        click.echo("no ROLLOUT_BOT_GITLAB_URL: the rollout issue was left as it is", err=True)


@main.command("auto-deploy")
@click.argument("what", type=click.Choice(["status"]))
@click.argument("sha")
@click.option("--project", required=True, help="GROUP/PROJECT or its id")
def auto_deploy(what: str, sha: str, project: str) -> None:
    """auto-deploy status SHA: which environments' last deployment contains SHA."""
    from webhook.deploy import auto_deploy_status
    from webhook.gitlab_repo import Repository

    client = _gitlab_client()
    try:
        answer = auto_deploy_status(Repository(client, project), sha)
    except (Refusal, GitLabError) as exc:
        _fail(str(exc))
    click.echo(answer.to_markdown())


@main.command("release")
@click.argument("what", type=click.Choice(["check"]))
@click.argument("merge_request_url")
@click.argument("milestone")
def release(what: str, merge_request_url: str, milestone: str) -> None:
    """release check MR_URL MILESTONE: is the MR's merge commit in a tag of MILESTONE."""
    from webhook.deploy import release_check

    client = _gitlab_client()
    try:
        answer = release_check(client, merge_request_url, milestone)
    except (Refusal, GitLabError) as exc:
        _fail(str(exc))
    click.echo(answer.to_markdown())
    sys.exit(0 if answer.released else 1)


def _gitlab_client() -> GitLab:
    from webhook.gitlab_api import GitLab

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    if not settings.gitlab_url:
        _fail("this needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")
    return GitLab(settings.gitlab_url, settings.gitlab_token)


@main.group("inbox")
def inbox_group() -> None:
    """Deliveries waiting, done and failed."""


@inbox_group.command("list")
@click.option("--failed", is_flag=True, help="only failed deliveries")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
def inbox_list(failed: bool, as_json: bool, limit: int) -> None:
    """The newest deliveries first."""
    from webhook import inbox

    runtime = _runtime()
    rows = inbox.listing(runtime.engine, [inbox.FAILED] if failed else None, limit=limit)
    runtime.engine.dispose()
    if as_json:
        _print_json([row.as_dict() for row in rows])
        return
    for row in rows:
        where = f"{row.project_id}#{row.issue_iid}"
        error = f"  {row.last_error}" if row.last_error else ""
        click.echo(
            f"{row.id}  {row.status:<10} {row.kind:<12} {where:<12} attempts={row.attempts}  "
            f"{row.received_at.isoformat(timespec='seconds')}{error}"
        )
    if not rows:
        click.echo("no deliveries")


@inbox_group.command("retry")
@click.argument("delivery_id", type=int)
def inbox_retry(delivery_id: int) -> None:
    """Queue a failed delivery again."""
    from webhook import inbox

    runtime = _runtime()
    try:
        delivery = inbox.retry(runtime.engine, delivery_id)
    except inbox.InboxError as exc:
        _fail(str(exc))
    finally:
        runtime.engine.dispose()
    click.echo(f"delivery {delivery.id} queued again")


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration not yet applied."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    database.upgrade(settings.database_url)
    click.echo(f"database at revision {database.head_revision()}")


@main.group("definitions")
def definitions_group() -> None:
    """Feature flag definition files."""


@definitions_group.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def definitions_validate(paths: Sequence[Path]) -> None:
    """Validate definitions (default: the project's own and ROLLOUT_BOT_DEFINITIONS)."""
    try:
        roots = list(paths) or list(Settings.from_env().definitions)
    except ConfigError as exc:
        _fail(str(exc))
    registry = definitions.load(roots)
    for problem in registry.problems:
        click.echo(str(problem))
    errors = sum(1 for p in registry.problems if p.severity == "error")
    warnings = len(registry.problems) - errors
    click.echo(
        f"{len(registry.definitions)} definitions valid, {errors} errors, {warnings} warnings",
        err=True,
    )
    sys.exit(1 if errors else 0)


@main.group()
def feature() -> None:
    """ChatOps feature commands: set, get, list, delete; and check, history."""


def _run_feature(verb: str, args: Sequence[str], as_json: bool) -> None:
    # --json belongs to the CLI, not the ChatOps grammar, wherever it stands.
    as_json = as_json or "--json" in args
    args = [arg for arg in args if arg != "--json"]
    runtime = _runtime()
    settings = runtime.settings
    resolver = None
    if settings.gitlab_url:
        from webhook.gitlab_api import GitLab, GitLabResolver

        resolver = GitLabResolver(GitLab(settings.gitlab_url, settings.gitlab_token))
    try:
        command = parse_tokens(["feature", verb, *args], settings.environments)
        context = runtime.context(who=settings.user, source=CLI_SOURCE, resolver=resolver)
        result = execute(context, command)
    except (Refusal, GitLabError) as exc:
        _fail(str(exc))
    finally:
        runtime.engine.dispose()
    if as_json:
        _print_json(card.to_json(result))
    else:
        click.echo(card.to_text(result))


def parse_tokens(tokens: Sequence[str], environments: Sequence[str]) -> FeatureCommand:
    """Parse argv tokens through the shared grammar, quoting each as the shell gave it."""
    command = parse(shlex.join(tokens), environments)
    assert isinstance(command, FeatureCommand)
    return command


_PASSTHROUGH = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _feature_command(verb: str, summary: str) -> None:
    @feature.command(verb, context_settings=_PASSTHROUGH, help=summary)
    @click.option("--json", "as_json", is_flag=True, help="print the result card as JSON")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(as_json: bool, args: tuple[str, ...]) -> None:
        _run_feature(verb, args, as_json)


_feature_command("set", "feature set NAME VALUE [--dev --staging --staging-ref --production] ...")
_feature_command("get", "feature get NAME [environments]")
_feature_command("list", "feature list [--match=TEXT] [environments]")
_feature_command("delete", "feature delete NAME [environments]")


@feature.command("check")
@click.argument("name")
@click.option("--actor", "actors", multiple=True, help="an actor id such as Group:42")
@click.option("--env", "environment", default=None, help="the environment (default production)")
@click.option("--dev", "env_flags", flag_value="dev")
@click.option("--staging", "env_flags", flag_value="staging")
@click.option("--staging-ref", "env_flags", flag_value="staging-ref")
@click.option("--production", "env_flags", flag_value="production")
def feature_check(
    name: str, actors: tuple[str, ...], environment: str | None, env_flags: str | None
) -> None:
    """Evaluate NAME: one true/false line per actor, or one line without an actor."""
    runtime = _runtime()
    env = environment or env_flags or "production"
    name = name.strip("`")
    try:
        if env not in runtime.settings.environments:
            raise Refusal(f"unknown environment {env}")
        if name not in runtime.registry:
            raise undefined_refusal(runtime.registry, name)
        flags = Flags(runtime.store, runtime.registry, env)
        for actor in actors or (None,):
            click.echo("true" if flags.enabled(name, actor) else "false")
    except Refusal as exc:
        _fail(str(exc))
    finally:
        runtime.engine.dispose()


@feature.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=None)
def feature_history(name: str, as_json: bool, limit: int | None) -> None:
    """Audit rows of NAME, newest first."""
    runtime = _runtime()
    records = runtime.store.history(name.strip("`"), limit=limit)
    runtime.engine.dispose()
    if as_json:
        _print_json([r.as_dict() for r in records])
    else:
        click.echo(card.history_text(records))


main.add_command(tracking_group)
