"""`rollout-bot feature`: the ChatOps feature commands from a terminal, and check, history."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import click

from flags import results
from flags.commands import execute, undefined_refusal
from flags.engine import Flags
from flags.errors import Refusal
from flags.grammar import FeatureCommand, parse
from flags.store import refuse_instance_environment
from gitlab_ops.errors import GitLabError
from rollout_bot.cli.common import CLI_SOURCE, fail, open_cli_runtime, print_json
from rollout_bot.issue_notice import tell_rollout_issue


@click.group()
def feature() -> None:
    """ChatOps feature commands: set, get, list, delete; and check, history."""


def _run_feature(verb: str, args: Sequence[str], as_json: bool) -> None:
    # --json belongs to the CLI, not the ChatOps grammar, wherever it stands.
    as_json = as_json or "--json" in args
    args = [arg for arg in args if arg != "--json"]
    runtime = open_cli_runtime()
    settings = runtime.settings
    resolver = None
    if settings.gitlab_url:
        from gitlab_ops.client import GitLab, GitLabResolver

        resolver = GitLabResolver(GitLab(settings.gitlab_url, settings.gitlab_token))
    try:
        command = parse_tokens(["feature", verb, *args], settings.environments)
        context = runtime.context(who=settings.user, source=CLI_SOURCE, resolver=resolver)
        result = execute(context, command)
        if command.verb in ("set", "delete"):
            tell_rollout_issue(runtime, result, settings.user)
    except (Refusal, GitLabError) as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    if as_json:
        print_json(results.card_json(result))
    else:
        click.echo(results.card_text(result))


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
    runtime = open_cli_runtime()
    env = environment or env_flags or "production"
    name = name.strip("`")
    try:
        if env not in runtime.settings.environments:
            raise Refusal(f"unknown environment {env}")
        if name not in runtime.registry:
            raise undefined_refusal(runtime.registry, name)
        refuse_instance_environment(runtime.store, env, "feature check")
        flags = Flags(runtime.database_store, runtime.registry, env)
        for actor in actors or (None,):
            click.echo("true" if flags.enabled(name, actor) else "false")
    except Refusal as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()


@feature.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=None)
def feature_history(name: str, as_json: bool, limit: int | None) -> None:
    """Audit rows of NAME, newest first."""
    runtime = open_cli_runtime()
    records = runtime.store.history(name.strip("`"), limit=limit)
    runtime.engine.dispose()
    if as_json:
        print_json([r.as_dict() for r in records])
    else:
        click.echo(results.history_text(records))
