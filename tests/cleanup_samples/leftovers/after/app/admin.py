from flags.engine import Flags


def enable_everywhere(flags: Flags) -> None:
    # Used by the rollout of product_intelligence_database_event_tracking.
    flags.store.set("product_intelligence_database_event_tracking", True)
