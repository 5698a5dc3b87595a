"""`rollout-bot inbox`: deliveries waiting, done and failed."""

from __future__ import annotations

import click

from rollout_bot.cli.common import fail, open_cli_runtime, print_json
from rollout_bot.cli.progress import tracked

RETRY_WHICH = "say which deliveries to queue again: an ID, or --failed for every failed one"


@click.group("inbox")
def inbox_group() -> None:
    """Deliveries waiting, done and failed."""


@inbox_group.command("list")
@click.option("--failed", is_flag=True, help="only failed deliveries")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
def inbox_list(failed: bool, as_json: bool, limit: int) -> None:
    """The newest deliveries first."""
    from webhook import inbox

    runtime = open_cli_runtime()
    rows = inbox.listing(runtime.engine, [inbox.FAILED] if failed else None, limit=limit)
    runtime.engine.dispose()
    if as_json:
        print_json([row.as_dict() for row in rows])
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
@click.argument("delivery_id", type=int, required=False)
@click.option("--failed", "every_failed", is_flag=True, help="every failed delivery")
def inbox_retry(delivery_id: int | None, every_failed: bool) -> None:
    """Queue a failed delivery (or, with --failed, every failed one) again."""
    from webhook import inbox

    if (delivery_id is not None) == every_failed:
        raise click.UsageError(RETRY_WHICH)
    runtime = open_cli_runtime()
    try:
        if delivery_id is not None:
            delivery = inbox.retry(runtime.engine, delivery_id)
            click.echo(f"delivery {delivery.id} queued again")
            return
        failed = inbox.failed_ids(runtime.engine)
        retried = 0
        for failed_id in tracked(failed, "retrying failed deliveries", len(failed)):
            try:
                inbox.retry(runtime.engine, failed_id)
            except inbox.InboxError:
                continue  # retried (or purged) by someone else meanwhile
            retried += 1
    except inbox.InboxError as exc:
        fail(str(exc))
    finally:
        runtime.engine.dispose()
    click.echo(f"{retried} failed deliveries queued again")


@inbox_group.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    default=None,
    help="days; default ROLLOUT_BOT_RETENTION_DAYS (30)",
)
@click.option("--json", "as_json", is_flag=True)
def inbox_purge(days: float | None, as_json: bool) -> None:
    """Forget finished deliveries, posted issue updates and remembered runs older than DAYS.

    Pending, processing and recently failed deliveries stay; the audit log stays.
    """
    import dataclasses
    import datetime as dt

    from webhook import retention

    runtime = open_cli_runtime()
    if days is None:
        days = runtime.settings.retention_days
    try:
        purged = retention.purge(runtime.engine, dt.timedelta(days=days))
    finally:
        runtime.engine.dispose()
    if as_json:
        print_json({"older_than_days": days, **dataclasses.asdict(purged)})
        return
    click.echo(purged.describe(days))
