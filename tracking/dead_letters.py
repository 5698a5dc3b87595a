"""Dead letters: outbox rows the senders gave up on, kept until someone requeues them.

A row becomes one when a single event is answered 413 (too large for the
collector however it is batched), or when it keeps failing past the
`SenderSettings` limits (attempts or age). It stays in `tracking_outbox`
with `dead_at` set: never claimed, not counted as waiting, listed by
`rollout-bot tracking status` and counted on `/metrics`. `requeue` (the
`rollout-bot tracking retry` command) makes it due again with its attempts
reset; it is sent with its original event id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tracking.schema import outbox
from tracking.sent_counts import table_and_op

# Rows requeued per transaction by `requeue`.
REQUEUE_BATCH = 500


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    event_id: str
    table: str
    op: str
    created_at: dt.datetime
    dead_at: dt.datetime
    attempts: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "table": self.table,
            "op": self.op,
            "created_at": self.created_at.isoformat(),
            "dead_at": self.dead_at.isoformat(),
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


def _event_id(payload: str) -> str:
    try:
        return str(json.loads(payload).get("eid"))
    except ValueError:
        return "?"


def count(conn: Connection) -> int:
    statement = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.dead_at.is_not(None))
    return int(conn.scalar(statement) or 0)


def listed(conn: Connection, limit: int) -> list[DeadLetter]:
    """The oldest `limit` dead letters, in the order they died."""
    rows = conn.execute(
        sa.select(outbox)
        .where(outbox.c.dead_at.is_not(None))
        .order_by(outbox.c.dead_at, outbox.c.id)
        .limit(limit)
    ).all()
    letters = []
    for row in rows:
        table, op = table_and_op(row.payload)
        letters.append(
            DeadLetter(
                id=row.id,
                event_id=_event_id(row.payload),
                table=table,
                op=op,
                created_at=_aware(row.created_at),
                dead_at=_aware(row.dead_at),
                attempts=row.attempts,
                last_error=row.last_error,
            )
        )
    return letters


def requeue(
    engine: Engine,
    ids: Sequence[int] | None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Make these dead letters (None: all) due again; the ids that were dead letters.

    Requeued `REQUEUE_BATCH` at a time, each batch its own transaction, so a large
    backlog neither holds one long write lock (the senders claim from this table)
    nor leaves `progress(done, total)` silent until the end.
    """
    now = dt.datetime.now(dt.UTC)
    dead = outbox.c.dead_at.is_not(None)
    where = dead if ids is None else sa.and_(dead, outbox.c.id.in_(list(ids)))
    with engine.connect() as conn:
        chosen = list(conn.scalars(sa.select(outbox.c.id).where(where).order_by(outbox.c.id)))
    requeued: list[int] = []
    for start in range(0, len(chosen), REQUEUE_BATCH):
        batch = chosen[start : start + REQUEUE_BATCH]
        with engine.begin() as conn:
            requeued += conn.scalars(
                sa.update(outbox)
                # Still dead: a row requeued by someone else meanwhile is theirs.
                .where(dead, outbox.c.id.in_(batch))
                .values(
                    dead_at=None,
                    attempts=0,
                    next_attempt_at=None,
                    requeued_at=now,
                    locked_by=None,
                    locked_until=None,
                )
                .returning(outbox.c.id)
            ).all()
        if progress is not None:
            progress(start + len(batch), len(chosen))
    return sorted(requeued)
