"""The flag's state as the rollout issue shows it: the bot's state note, and change comments.

The description belongs to people, so the state lives in one note of the bot's
own, found again by `STATE_NOTE_MARKER` and edited in place. Pure rendering:
the caller reads the state (as `feature get` does) and posts the text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from flags.results import Change, EnvironmentState
from flags.store import environment_label
from templates.render import Markdown, md_inline, render

STATE_NOTE_MARKER = "<!-- rollout-bot:state-note -->"
"""Starts the bot's state note; a person's note quoting it is never taken for it (author)."""

STATE_NOTE_FOOTER = (
    "rollout-bot edits this note after every change of the flag, whatever made it: a ticked "
    "step, a `/chatops run` comment, `rollout-bot feature set` or `delete` from a terminal, "
    "`rollout-bot cleanup finish`. The comments on this issue say who changed what."
)
REMOVED = "removed"
"""An environment's state once the flag's definition is gone and nothing is stored."""


def update_marker(key: str) -> str:
    """What a retry looks for before commenting, so a queued comment is posted once."""
    return f"<!-- rollout-bot:update={key} -->"


def _percent(value: float) -> str:
    return f"{int(value) if float(value).is_integer() else value}%"


def state_phrase(env_state: EnvironmentState, *, defined: bool = True) -> str:
    """One environment in words: off, on, N% of actors, N% of time, actors on; "(default)"
    when never set there, so the definition's default applies."""
    state = env_state.state
    if not defined and env_state.is_default:
        return REMOVED
    parts: list[str] = []
    if state.boolean:
        parts.append("on")
    else:
        if state.percentage_of_actors:
            parts.append(f"{_percent(state.percentage_of_actors)} of actors")
        if state.percentage_of_time:
            parts.append(f"{_percent(state.percentage_of_time)} of time")
        if state.actors:
            parts.append("actors on: " + ", ".join(sorted(state.actors)))
        if state.groups:
            parts.append("feature groups on: " + ", ".join(sorted(state.groups)))
    phrase = "; ".join(parts) or "off"
    return phrase + (" (default)" if env_state.is_default else "")


def _row(*cells: str) -> Markdown:
    """One table row, made whole here: `md_inline` on a cell alone would escape `12.5%`
    as if it began an ordered list; a `|` inside a cell would split it."""
    return Markdown(md_inline("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"))


def state_note(
    flag: str,
    states: Sequence[EnvironmentState],
    *,
    defined: bool = True,
    instances: Mapping[str, str] | None = None,
) -> str:
    """The note's whole body; equal bodies mean nothing to edit. `instances` names the
    GitLab instance of each environment one holds."""
    named = instances or {}
    rows = [
        _row(
            environment_label(s.environment, named.get(s.environment)),
            state_phrase(s, defined=defined),
        )
        for s in states
    ]
    return render(
        "state_note.md.j2",
        marker=Markdown(STATE_NOTE_MARKER),
        flag=flag,
        rows=rows,
        defined=defined,
        footer=STATE_NOTE_FOOTER,
    )


def change_comment(
    key: str,
    *,
    who: str,
    source: str,
    flag: str,
    command: str,
    changes: Sequence[Change],
    at: dt.datetime | None = None,
    instances: Mapping[str, str] | None = None,
) -> str:
    """A change made outside the issue, per environment before and after."""
    named = instances or {}
    rows = [
        _row(
            environment_label(c.environment, named.get(c.environment)),
            state_phrase(c.before),
            state_phrase(c.after) if c.changed else "unchanged",
        )
        for c in changes
    ]
    return render(
        "change_comment.md.j2",
        marker=Markdown(update_marker(key)),
        who=who,
        source=source,
        flag=flag,
        command=command,
        rows=rows,
        at=(at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
