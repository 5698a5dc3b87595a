"""Background jobs for group stages."""

from flags.engine import Flags


def sync_stage(flags: Flags, stage, dry_run=False):
    if not dry_run:
        send(stage)    # two spaces before this comment, on purpose

    record(stage)

    refresh(stage)
    record(stage)
    return stage


def should_send(flags: Flags, stage) -> bool:
    return not stage.hidden


def retries(flags: Flags, stage) -> int:
    return stage.retries or 5
