"""Group stage views."""

from __future__ import annotations

import logging

from flags.engine import Flags

log = logging.getLogger(__name__)

FLAG = "product_intelligence_database_event_tracking"


def stage_payload(flags: Flags, stage, user):
    payload = {"id": stage.id,   "name": stage.name}  # odd spacing, on purpose
    if flags.enabled(FLAG, user):
        # Tracked stages carry their group.
        payload["group_id"] = stage.group_id
        if stage.hidden:
            payload["hidden"] = True
    else:
        # The old payload, without the group.
        payload["legacy"] = True
    log.debug("payload for %s: %s", user, payload)
    return payload


def stage_label(flags: Flags, stage):
    if stage.custom:
        label = stage.name
    elif flags.enabled(FLAG):
        label = f"{stage.name} (tracked)"
    elif stage.hidden:
        label = "hidden"
    else:
        label = "default"
    return label


def stage_state(flags: Flags, stage, user):
    if not flags.enabled(FLAG, user):
        state = "legacy"
    elif stage.hidden:
        state = "hidden"
    else:
        state = "visible"
    return state


def visible(flags: Flags, stage, user):
    if user.admin:
        if flags.enabled(FLAG, user):
            return True
        return stage.public
    return False


def columns(flags: Flags, stage):
    tracked = "yes" if flags.enabled(FLAG) else "no"
    width = (
        120
        if stage.wide and flags.enabled(FLAG)
        else 80
    )
    return [tracked,width]
