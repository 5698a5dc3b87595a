from flags.engine import DEFAULT_CHECK_INTERVAL, Flags
from app.legacy import (
    legacy_report,
    normalize,
)


def report(flags: Flags, stage):
    if not flags.enabled("product_intelligence_database_event_tracking"):
        return legacy_report(stage, DEFAULT_CHECK_INTERVAL)
    return normalize(stage)
