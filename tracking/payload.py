"""The Snowplow payload of one database event, built by snowplow-tracker.

A structured event as GitLab's `Gitlab::Tracking.database_event` sends it
(https://docs.gitlab.com/development/internal_analytics/internal_event_instrumentation/),
with one `gitlab_standard` context whose `extra` holds the allow-listed
attributes. The payload is built once, at flush time, event id and device
timestamp included, and stored as JSON text: every retry sends the same event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Literal

Op = Literal["create", "update", "destroy"]

GITLAB_STANDARD_SCHEMA = "iglu:com.gitlab/gitlab_standard/jsonschema/1-0-10"
TRACKER_NAMESPACE = "gl"  # what GitLab's server-side tracker calls itself
PLATFORM: Literal["srv"] = "srv"
DEFAULT_SOURCE = "rollout-bot"
# gitlab_standard's id fields are 32-bit; a larger id would fail validation downstream.
MAX_SCHEMA_ID = 2_147_483_647


# Types `extra` carries as they are.
AS_IS = frozenset({int, str, bool, float, type(None)})


def jsonable(value: Any) -> Any:
    """A column value as it goes into `extra`: datetimes as ISO 8601 in UTC."""
    if type(value) in AS_IS:
        return value
    if isinstance(value, dt.datetime):
        # SQLite hands back naive datetimes; everything stored is UTC.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


class _NoEmitter:
    """snowplow-tracker wants an emitter; ours never emits, the outbox sends."""

    def input(self, payload: dict[str, Any]) -> None:
        raise RuntimeError("database events are sent from the outbox, not by the tracker")

    def flush(self) -> None:
        pass

    def async_flush(self) -> None:
        pass

    def sync_flush(self) -> None:
        pass


class PayloadBuilder:
    """Database events as snowplow-tracker builds them, without rebuilding what never changes.

    Of a structured event's fields, only three differ from one event of an
    action to the next: the event id, the device timestamp and the contexts.
    snowplow-tracker's `Tracker.complete_payload` builds the others (event
    type, category, action, label, property, platform, tracker version,
    namespace, app id) once per action; each event then gets its id from
    `Tracker.get_uuid`, its timestamp from `Tracker.get_timestamp` and its
    contexts encoded by the tracker's `Payload.add_json`, as `complete_payload`
    would. The writer's commit pays for that part only: in a flush, the whole
    build cost about as much as the outbox insert (bench/tracking_overhead.py).
    `tests/test_tracking_install.py` holds every payload equal to the one
    `complete_payload` builds from the same id, timestamp and context.
    """

    def __init__(self, *, app_id: str, environment: str, source: str = DEFAULT_SOURCE) -> None:
        # Imported here, not at module level: snowplow_tracker.emitters calls
        # logging.basicConfig() on import, which is not ours to do to a host
        # application that merely imports `tracking`.
        from snowplow_tracker.constants import CONTEXT_SCHEMA
        from snowplow_tracker.events.structured_event import StructuredEvent
        from snowplow_tracker.payload import Payload
        from snowplow_tracker.self_describing_json import SelfDescribingJson
        from snowplow_tracker.subject import Subject
        from snowplow_tracker.tracker import Tracker

        self._context = SelfDescribingJson
        self._contexts_schema = CONTEXT_SCHEMA
        self._payload = Payload
        self._event = StructuredEvent
        self._tracker = Tracker(
            TRACKER_NAMESPACE,
            emitters=_NoEmitter(),
            subject=Subject().set_platform(PLATFORM),
            app_id=app_id,
            encode_base64=True,
            json_encoder=str,
        )
        self._fixed: dict[tuple[str, str, str], str] = {}
        self.environment = environment
        self.source = source

    def context(self, *, extra: Mapping[str, Any], namespace_id: int | None) -> Any:
        """The event's `gitlab_standard` context (a snowplow-tracker SelfDescribingJson)."""
        if namespace_id is not None and not 0 <= namespace_id <= MAX_SCHEMA_ID:
            namespace_id = None
        return self._context(
            GITLAB_STANDARD_SCHEMA,
            {
                "environment": self.environment,
                "source": self.source,
                "namespace_id": namespace_id,
                "project_id": None,
                "user_id": None,
                "plan": None,
                "context_generated_at": dt.datetime.now(dt.UTC).isoformat(),
                "extra": dict(extra),
            },
        )

    def event(self, *, category: str, op: Op, label: str, contexts: list[Any]) -> Any:
        """The snowplow-tracker event `build` stands for."""
        return self._event(
            category=category,
            action=f"database_event_{op}",
            label=label,
            property_=op,
            context=contexts,
        )

    def build(
        self,
        *,
        category: str,
        op: Op,
        label: str,
        extra: Mapping[str, Any],
        namespace_id: int | None,
    ) -> str:
        """The payload's JSON text: string values, as the POST protocol carries them."""
        fixed = self._fixed.get((category, op, label))
        if fixed is None:
            fixed = self._fixed[(category, op, label)] = self._fixed_fields(category, op, label)
        envelope = self._context(
            self._contexts_schema,
            [self.context(extra=extra, namespace_id=namespace_id).to_json()],
        ).to_json()
        contexts = self._payload()
        contexts.add_json(envelope, True, "cx", "co", str)
        eid = self._tracker.get_uuid()
        dtm = self._tracker.get_timestamp()
        # A UUID, digits and URL-safe base64: nothing JSON would escape.
        return f'{fixed}, "eid": "{eid}", "dtm": "{dtm}", "cx": "{contexts.nv_pairs["cx"]}"}}'

    def _fixed_fields(self, category: str, op: Op, label: str) -> str:
        """The fields every event of this action shares, as an open JSON object."""
        event = self.event(category=category, op=op, label=label, contexts=[])
        pairs = self._tracker.complete_payload(event).nv_pairs
        del pairs["eid"], pairs["dtm"]
        # Emitter.input stringifies every value before a POST; so do we.
        return json.dumps({key: str(value) for key, value in pairs.items()})[:-1]
