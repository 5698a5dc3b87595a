"""`rollout-bot cleanup`: removing a flag after its rollout (check, rewrite, the MR, finish)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flags import definitions
from flags.errors import Refusal
from gitlab_ops.client import GitLab
from gitlab_ops.errors import GitLabError
from rollout_bot.cli.common import CLI_SOURCE, fail, gitlab_client, open_cli_runtime
from rollout_bot.cli.progress import progress


@click.group("cleanup")
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
            fail(str(exc))
        problems += [
            f"{commit}: removes a flag definition but has no `Changelog:` trailer"
            for commit in missing_trailers
        ]
    with progress(f"checking {len(files)} files") as advance:
        usage = scan(
            files, {**defined, **{name: path for name, path in deleted.items()}}, progress=advance
        )
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
    from flags.cleanup.apis import DECLARATION_PATH
    from flags.usage import walk

    name = name.strip("`")
    files: dict[str, str] = {}
    for path in paths or (Path("."),):
        if path.is_dir():
            files.update({str(path / rel): text for rel, text in walk(path).items()})
        else:
            files[str(path)] = path.read_text(encoding="utf-8")
    # Files named one by one still follow the project's flag-API declaration.
    declaration = Path(DECLARATION_PATH)
    if DECLARATION_PATH not in files and declaration.is_file():
        files[DECLARATION_PATH] = declaration.read_text(encoding="utf-8")
    with progress(f"rewriting {len(files)} files") as advance:
        results = rewrite_project(files, name, progress=advance)
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
@click.option(
    "--force",
    is_flag=True,
    help="open it even though NAME is not on for everyone in production",
)
def cleanup_mr(name: str, project: str, force: bool) -> None:
    """Open (or find) the merge request that removes NAME from the project.

    Refused unless NAME is on for everyone in production: the cleanup keeps
    only the enabled code path.
    """
    from gitlab_ops import issues
    from gitlab_ops.fully_on import production_state
    from gitlab_ops.merge_requests import open_cleanup
    from gitlab_ops.repository import Repository

    runtime = open_cli_runtime()
    settings = runtime.settings
    client = gitlab_client()
    name = name.strip("`")
    try:
        located = issues.find_by_flag(runtime.engine, name)
        context = runtime.context(who=settings.user, source=CLI_SOURCE)
        production = None if force else production_state(context, name)
    except Refusal as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    try:
        with progress(f"planning the removal of {name}") as advance:
            opened = open_cleanup(
                Repository(client, project),
                name,
                located[2] if located else None,
                production=production,
                progress=advance,
            )
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
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
    from gitlab_ops.finish import finish
    from rollout_bot.gitlocal import GitError, deleted_definitions

    if (name is None) == (deleted_since is None):
        raise click.UsageError("give either NAME or --deleted-since REV")
    if deleted_since is not None:
        try:
            names = sorted(deleted_definitions(root, deleted_since))
        except GitError as exc:
            fail(str(exc))
        if not names:
            click.echo(f"no flag definition was deleted since {deleted_since}")
            return
    else:
        assert name is not None
        names = [name.strip("`")]
    runtime = open_cli_runtime()
    settings = runtime.settings
    client = GitLab(settings.gitlab_url, settings.gitlab_token) if settings.gitlab_url else None
    context = runtime.context(who=settings.user, source="cleanup finish")
    try:
        for flag in names:
            report = finish(runtime.engine, context, client, flag, merge_request=merge_request)
            for line in report.lines():
                click.echo(line)
    except GitLabError as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    if client is None:
        click.echo("no ROLLOUT_BOT_GITLAB_URL: the rollout issue was left as it is", err=True)
