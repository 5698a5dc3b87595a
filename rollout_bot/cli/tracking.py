"""`rollout-bot tracking status | retry`: the outbox, its dead letters, every sender's counters."""

from __future__ import annotations

import json

import click

from rollout_bot.cli.common import fail, open_cli_runtime
from rollout_bot.cli.progress import progress
from tracking.dead_letters import requeue
from tracking.status import read_status, status_text

RETRY_NEEDS_IDS = "say which dead letters to send again: IDs, or --all"
RETRY_BOTH = "give IDs or --all, not both"
REQUEUED = (
    "{count} dead letters requeued ({ids}); the senders of the applications that "
    "track send them with their original event ids"
)
NOT_DEAD = "not dead letters (sent already, or unknown): {ids}"


@click.group("tracking")
def tracking_group() -> None:
    """Snowplow database event tracking."""


@tracking_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status_command(as_json: bool) -> None:
    """The outbox, its dead letters, the counters of every sender, and the last error."""
    runtime = open_cli_runtime()
    try:
        status = read_status(runtime.engine)
    finally:
        runtime.engine.dispose()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        click.echo(status_text(status))


@tracking_group.command("retry")
@click.option("--all", "every", is_flag=True, help="requeue every dead letter")
@click.argument("ids", nargs=-1, type=int)
def retry_command(every: bool, ids: tuple[int, ...]) -> None:
    """Requeue dead letters (IDs as `tracking status` lists them) for the senders."""
    if every and ids:
        raise click.UsageError(RETRY_BOTH)
    if not every and not ids:
        raise click.UsageError(RETRY_NEEDS_IDS)
    runtime = open_cli_runtime()
    try:
        with progress("requeueing dead letters") as advance:
            requeued = requeue(runtime.engine, None if every else ids, progress=advance)
    finally:
        runtime.engine.dispose()
    click.echo(REQUEUED.format(count=len(requeued), ids=", ".join(map(str, requeued)) or "none"))
    missing = sorted(set(ids) - set(requeued))
    if missing:
        fail(NOT_DEAD.format(ids=", ".join(map(str, missing))))
