"""`rollout-bot`: a thin click group over flags/, webhook/ and tracking/.

Exit codes: 0 success, 1 a refused command (one-line reason on stderr), 2 usage.
"""

from __future__ import annotations

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

CLI_SOURCE = "cli"


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _runtime() -> Runtime:
    try:
        return open_runtime(Settings.from_env())
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
def serve(host: str, port: int, workers: int) -> None:
    """Serve the webhook, the dashboard and /healthz with gunicorn."""
    from rollout_bot.server import run

    runtime = _runtime()
    run(runtime, host=host, port=port, workers=workers)


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
    try:
        command = parse_tokens(["feature", verb, *args], settings.environments)
        result = execute(runtime.context(who=settings.user, source=CLI_SOURCE), command)
    except Refusal as exc:
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
