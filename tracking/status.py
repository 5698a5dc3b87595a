"""The tracker's status: the outbox, its dead letters and every sender's counters.

Read from the database, not from a process: the command runs in a process of
its own, and the events it reports were sent by others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracking import dead_letters
from tracking.counters import NAMES
from tracking.dead_letters import DeadLetter
from tracking.schema import outbox, senders

# A sender reports at least every second while it works; a minute of silence
# means it stopped or is idle with nothing to report.
ACTIVE_WITHIN = dt.timedelta(minutes=1)
# Dead letters listed by `tracking status`; the count covers all of them.
LISTED_DEAD_LETTERS = 50
DEAD_LETTERS_NONE = "dead letters: none"
DEAD_LETTERS_HEADER = "dead letters: {count} (send again: rollout-bot tracking retry ID... | --all)"
DEAD_LETTER_LINE = (
    "  {id}: event {event_id} ({table} {op}), committed {created_at}, "
    "dead since {dead_at} after {attempts} attempts: {last_error}"
)
DEAD_LETTERS_MORE = "  ... and {more} more"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Status:
    waiting: int
    oldest: dt.datetime | None
    most_attempts: int
    totals: dict[str, int]
    processes: int
    active: int
    last_error: str | None
    last_error_at: dt.datetime | None
    last_error_process: str | None
    dead: int = 0
    dead_letters: tuple[DeadLetter, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "outbox": {
                "waiting": self.waiting,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "most_attempts": self.most_attempts,
            },
            "dead_letters": {
                "count": self.dead,
                "listed": [letter.as_dict() for letter in self.dead_letters],
            },
            "events": self.totals,
            "senders": {"recorded": self.processes, "active": self.active},
            "last_error": None
            if self.last_error is None
            else {
                "at": self.last_error_at.isoformat() if self.last_error_at else None,
                "process": self.last_error_process,
                "message": self.last_error,
            },
        }


def read_status(engine: Engine, now: dt.datetime | None = None) -> Status:
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(outbox.c.created_at),
                sa.func.max(outbox.c.attempts),
            )
            .select_from(outbox)
            .where(outbox.c.dead_at.is_(None))
        ).one()
        dead = dead_letters.count(conn)
        listed = dead_letters.listed(conn, LISTED_DEAD_LETTERS) if dead else []
        totals_row = conn.execute(
            sa.select(
                *(sa.func.coalesce(sa.func.sum(senders.c[name]), 0) for name in NAMES),
                sa.func.count(),
                sa.func.count().filter(senders.c.reported_at >= now - ACTIVE_WITHIN),
            )
        ).one()
        error = conn.execute(
            sa.select(senders.c.last_error, senders.c.last_error_at, senders.c.process)
            .where(senders.c.last_error_at.is_not(None))
            .order_by(senders.c.last_error_at.desc())
            .limit(1)
        ).first()
    return Status(
        waiting=int(row[0]),
        oldest=_aware(row[1]),
        most_attempts=int(row[2] or 0),
        totals={name: int(totals_row[i]) for i, name in enumerate(NAMES)},
        processes=int(totals_row[len(NAMES)]),
        active=int(totals_row[len(NAMES) + 1]),
        last_error=error.last_error if error else None,
        last_error_at=_aware(error.last_error_at) if error else None,
        last_error_process=error.process if error else None,
        dead=dead,
        dead_letters=tuple(listed),
    )


def status_text(status: Status, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    outbox_line = f"outbox: {status.waiting} events waiting"
    if status.waiting:
        age = (now - status.oldest).total_seconds() if status.oldest else 0.0
        oldest = status.oldest.isoformat() if status.oldest else "?"
        outbox_line += f", oldest {oldest} ({age:.0f} s ago), most attempts {status.most_attempts}"
    events = ", ".join(f"{name} {status.totals[name]}" for name in NAMES)
    senders_part = f"{status.processes} processes, {status.active} active in the last minute"
    if status.last_error is None:
        error_line = "last error: none"
    else:
        at = status.last_error_at.isoformat() if status.last_error_at else "?"
        error_line = f"last error: {at} {status.last_error_process}: {status.last_error}"
    lines = [outbox_line, f"events: {events} ({senders_part})", error_line]
    lines.extend(_dead_letter_lines(status))
    return "\n".join(lines)


def _dead_letter_lines(status: Status) -> list[str]:
    if not status.dead:
        return [DEAD_LETTERS_NONE]
    lines = [DEAD_LETTERS_HEADER.format(count=status.dead)]
    for letter in status.dead_letters:
        fields = letter.as_dict()
        lines.append(DEAD_LETTER_LINE.format(**fields))
    if status.dead > len(status.dead_letters):
        lines.append(DEAD_LETTERS_MORE.format(more=status.dead - len(status.dead_letters)))
    return lines
