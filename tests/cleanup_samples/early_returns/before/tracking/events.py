"""Snowplow events for group stages."""

from __future__ import annotations

import logging

from flags.engine import Flags

FLAG = "product_intelligence_database_event_tracking"
log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, flags: Flags, builder) -> None:
        self.flags = flags
        self.builder = builder

    def event(self, obj, op, values):
        """The event's payload, or None while the flag is off for the row's group."""
        group_id = values.get("group_id")
        actor = None if group_id is None else f"Group:{group_id}"
        if not self.flags.enabled(FLAG, actor):
            return None
        try:
            return self.builder.build(op=op, extra=values, namespace_id=group_id)
        except Exception:
            # A broken event must not fail the write.
            log.exception("building the event failed")
            return None

    def should_track(self, obj):
        tracking = self.flags.enabled(FLAG, obj.group)
        if tracking:
            return True
        log.debug("not tracking %s", obj)
        return False

    def flush(self, rows):
        sent = 0
        for row in rows:
            if not self.flags.enabled(FLAG, row.group):
                continue
            sent += self.send(row)
        while self.flags.disabled(FLAG):
            self.wait()
        assert self.flags.enabled(FLAG), "tracking must be on to flush"
        return sent
