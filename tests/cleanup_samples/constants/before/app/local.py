from flags.engine import Flags

TRACKING_FLAG = "product_intelligence_database_event_tracking"


def tracked(flags: Flags, stage) -> bool:
    return flags.enabled(name=TRACKING_FLAG, actor=stage.group)
