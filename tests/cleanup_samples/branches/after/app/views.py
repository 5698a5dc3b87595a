"""Group stage views."""

from __future__ import annotations

import logging

from flags.engine import Flags

log = logging.getLogger(__name__)


def stage_payload(flags: Flags, stage, user):
    payload = {"id": stage.id,   "name": stage.name}  # odd spacing, on purpose
    # Tracked stages carry their group.
    payload["group_id"] = stage.group_id
    if stage.hidden:
        payload["hidden"] = True
    log.debug("payload for %s: %s", user, payload)
    return payload


def stage_label(flags: Flags, stage):
    if stage.custom:
        label = stage.name
    else:
        label = f"{stage.name} (tracked)"
    return label


def stage_state(flags: Flags, stage, user):
    if stage.hidden:
        state = "hidden"
    else:
        state = "visible"
    return state


def visible(flags: Flags, stage, user):
    if user.admin:
        return True
    return False


def columns(flags: Flags, stage):
    tracked = "yes"
    width = (
        120
        if stage.wide
        else 80
    )
    return [tracked,width]
