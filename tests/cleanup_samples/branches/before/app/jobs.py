"""Background jobs for group stages."""

from flags.engine import Flags


def sync_stage(flags: Flags, stage, dry_run=False):
    # Nothing to sync for hidden stages while tracking is off.
    if stage.hidden and not flags.enabled("product_intelligence_database_event_tracking"):
        return None

    if not dry_run and flags.enabled("product_intelligence_database_event_tracking", stage.group):
        send(stage)    # two spaces before this comment, on purpose

    if dry_run or flags.enabled("product_intelligence_database_event_tracking"):
        record(stage)

    if refresh(stage) or flags.enabled("product_intelligence_database_event_tracking"):
        record(stage)
    return stage


def should_send(flags: Flags, stage) -> bool:
    return (
        flags.enabled("product_intelligence_database_event_tracking", stage.group)
        and not stage.hidden
    )


def retries(flags: Flags, stage) -> int:
    return 3 if not flags.enabled("product_intelligence_database_event_tracking") else (stage.retries or 5)
