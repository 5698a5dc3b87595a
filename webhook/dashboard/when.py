"""Dates as the pages show them: UTC, to the second, with how long ago in words.

Every reader shares one clock on these pages (UTC), and the relative time answers
the question people actually ask ("is this recent?") without arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_UNITS = (
    (dt.timedelta(days=1), "day"),
    (dt.timedelta(hours=1), "hour"),
    (dt.timedelta(minutes=1), "minute"),
    (dt.timedelta(seconds=1), "second"),
)


def aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def utc_text(moment: dt.datetime) -> str:
    return aware(moment).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(moment: dt.datetime, now: dt.datetime) -> str:
    """'just now', '1 minute ago', '3 days ago'; a moment ahead of `now` reads 'in ...'."""
    delta = aware(now) - aware(moment)
    future = delta < dt.timedelta(0)
    delta = abs(delta)
    for unit, name in _UNITS:
        if delta >= unit:
            count = int(delta / unit)
            words = f"{count} {name}{'' if count == 1 else 's'}"
            return f"in {words}" if future else f"{words} ago"
    return "just now"


@dataclass(frozen=True)
class When:
    """A moment ready for a template: `<time datetime=iso>utc</time> (relative)`."""

    iso: str
    utc: str
    relative: str


def when(moment: dt.datetime, now: dt.datetime) -> When:
    moment = aware(moment).astimezone(dt.UTC)
    return When(iso=moment.isoformat(), utc=utc_text(moment), relative=ago(moment, now))
