"""What every command group shares: failing with a one-line reason, the runtime, JSON out."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, NoReturn

import click

from gitlab_ops.client import GitLab
from rollout_bot.config import ConfigError, Settings
from rollout_bot.runtime import Runtime, open_runtime

CLI_SOURCE = "cli"


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def open_cli_runtime(*, local_trial: bool = False, service: bool = False) -> Runtime:
    try:
        settings = Settings.from_env()
        if local_trial:
            settings = dataclasses.replace(settings, local_trial=True)
        return open_runtime(settings, service=service)
    except ConfigError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def gitlab_client() -> GitLab:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        fail(str(exc))
    if not settings.gitlab_url:
        fail("this needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")
    return GitLab(settings.gitlab_url, settings.gitlab_token)
