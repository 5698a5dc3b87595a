"""Feature flags: definitions, the Flipper-compatible engine, stores, the ChatOps grammar."""

from flags.engine import Flags

__all__ = ["Flags"]
