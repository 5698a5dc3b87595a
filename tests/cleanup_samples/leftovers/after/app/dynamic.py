"""Flags whose names are built at run time."""

from flags.engine import Flags

PREFIX = "product_intelligence_"


def tracked(flags: Flags, kind: str) -> bool:
    return flags.enabled(f"{PREFIX}{kind}_event_tracking")


def by_getattr(flags: Flags) -> bool:
    check = getattr(flags, "enabled")
    return check("product_intelligence_database_event_tracking")
