"""Snowplow database event tracking for `group_stages`, gated by a flag.

Every create, update and destroy of a tracked row (`GroupStage`, or any model
with the `DatabaseEventTracking` mixin) becomes one Snowplow structured event
as GitLab's DatabaseEventTracking sends it, while the flag
`product_intelligence_database_event_tracking` is on for the row's group.

    tracker = tracking.install(Session, collector=url, app_id="rollout-bot", flags=flags)
    ...
    tracker.close(timeout=10)

Where the events wait. By default in the outbox table `tracking_outbox`, in
the application's own database, written in the same transaction as the
change: a rollback removes the event with the change, and an event committed
with its change survives any crash until a sender delivers it. rollout-bot's
own database gets the table from migration `0003_tracking` (with
`group_stages` and `tracking_senders`); a host application with its own
migrations calls `tracking.create_tables(engine)` once, or copies that
migration. `install(..., durable=False)` keeps events in a bounded memory
queue instead: no table, and what is queued dies with the process.

The events are written through SQLAlchemy's documented extension points only:
session events collect them in flush and insert them in `before_commit` on the
session's own connection (a Core insert SQL listeners see); nothing of
SQLAlchemy's or the driver's is replaced. Two-phase sessions and AUTOCOMMIT
connections are refused (`TrackingRefused`) in durable mode.

The modules, one job each: `model` (GroupStage, the mixin), `schema` (tables),
`payload` (the event, built by snowplow-tracker), `session_listeners` (collect
in flush, write in before_commit, hand on after commit), `pending` (the frames
per transaction and savepoint), `refusals` (what durable tracking cannot
follow), `outbox` (write and claim),
`memory` (the memory queue), `sender` (the thread that posts), `counters`,
`metrics` (a Prometheus collector for /metrics), `status` (`rollout-bot tracking
status`), `install` (the wiring).
Nothing runs at import.
"""

from tracking.install import Tracker, install
from tracking.model import Base, DatabaseEventTracking, GroupStage
from tracking.refusals import TrackingRefused
from tracking.schema import create_tables
from tracking.sender import SenderSettings
from tracking.session_listeners import FLAG

__all__ = [
    "FLAG",
    "Base",
    "DatabaseEventTracking",
    "GroupStage",
    "SenderSettings",
    "Tracker",
    "TrackingRefused",
    "create_tables",
    "install",
]
