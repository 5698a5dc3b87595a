"""Snowplow events for group stages."""

from __future__ import annotations

import logging

from flags.engine import Flags

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, flags: Flags, builder) -> None:
        self.flags = flags
        self.builder = builder

    def event(self, obj, op, values):
        """The event's payload, or None while the flag is off for the row's group."""
        group_id = values.get("group_id")
        try:
            return self.builder.build(op=op, extra=values, namespace_id=group_id)
        except Exception:
            # A broken event must not fail the write.
            log.exception("building the event failed")
            return None

    def should_track(self, obj):
        return True

    def flush(self, rows):
        sent = 0
        for row in rows:
            sent += self.send(row)
        return sent
