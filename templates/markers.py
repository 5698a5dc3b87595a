"""The hidden step marker (``<!-- step:ID -->``): written by the template, read back by the bot.

Why a module of its own: the parser (`templates.tasklist`) reads a task's marker and
the step logic (`templates.steps`) keys steps by it, so both depend on this format
and neither on the other's internals. GitLab does not show HTML comments, so a marker
names a step without changing what a person sees; positions change whenever a person
edits the issue, markers do not.
"""

from __future__ import annotations

import re

__all__ = ["STEP_ID", "STEP_MARKER", "marker"]

STEP_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
"""A step id: what the template writes into a marker and the bot keys steps by."""

STEP_MARKER = re.compile(r"<!-- step:(?P<id>[a-z0-9][a-z0-9-]*) -->")
"""The hidden marker, exactly as `marker` renders it."""


def marker(step_id: str) -> str:
    """Render the marker the template puts right after a step's checkbox."""
    if STEP_ID.fullmatch(step_id) is None:
        raise ValueError(f"invalid step id {step_id!r}: it must match {STEP_ID.pattern}")
    return f"<!-- step:{step_id} -->"
