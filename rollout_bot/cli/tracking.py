"""`rollout-bot tracking status`: the outbox and every sender's counters."""

from __future__ import annotations

import json

import click

from rollout_bot.cli.common import open_cli_runtime
from tracking.status import read_status, status_text


@click.group("tracking")
def tracking_group() -> None:
    """Snowplow database event tracking."""


@tracking_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status_command(as_json: bool) -> None:
    """The outbox, the counters of every sender, and the last error."""
    runtime = open_cli_runtime()
    try:
        status = read_status(runtime.engine)
    finally:
        runtime.engine.dispose()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        click.echo(status_text(status))
