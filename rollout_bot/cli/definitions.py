"""`rollout-bot definitions validate`: flag definition files."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from flags import definitions
from rollout_bot.cli.common import fail
from rollout_bot.config import ConfigError, Settings


@click.group("definitions")
def definitions_group() -> None:
    """Feature flag definition files."""


@definitions_group.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def definitions_validate(paths: Sequence[Path]) -> None:
    """Validate definitions (default: the project's own and ROLLOUT_BOT_DEFINITIONS)."""
    try:
        roots = list(paths) or list(Settings.from_env().definitions)
    except ConfigError as exc:
        fail(str(exc))
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
