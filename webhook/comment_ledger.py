"""The bot's own record of the comment each delivery owes: so it is posted once.

Posting is two steps that a crash can split: GitLab creating the note, and us
learning its id. So the intent is recorded first, in one INSERT keyed by the
delivery (the primary key makes a second insert a no-op, whoever races), and the
note id is written once GitLab answers. Only a rerun that finds the intent
without a note id (a crash or a lost answer in between) has to ask GitLab
whether the note landed, and it looks at one page of the newest notes, not the
issue's whole history. Running the delivery at all needs its lease
(`gitlab_ops.lease`), so two workers never post at the same time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from webhook.schema import delivery_comments as table

FRESH = "fresh"  # no comment was started for this delivery: post it
POSTED = "posted"  # the note exists and its id is recorded: nothing to do
UNSURE = "unsure"  # started before and not recorded: look for it before posting


@dataclass(frozen=True)
class CommentLedger:
    engine: Engine

    def begin(self, delivery_key: str) -> str:
        """Record the intent to comment; FRESH, POSTED or UNSURE as explained above."""
        values: dict[str, Any] = {
            "delivery_key": delivery_key,
            "created_at": dt.datetime.now(dt.UTC),
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).values(**values).on_conflict_do_nothing()
        with self.engine.begin() as conn:
            if conn.execute(insert).rowcount == 1:
                return FRESH
            note_id = conn.scalar(
                sa.select(table.c.note_id).where(table.c.delivery_key == delivery_key)
            )
        return UNSURE if note_id is None else POSTED

    def posted(self, delivery_key: str, note_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(table).where(table.c.delivery_key == delivery_key).values(note_id=note_id)
            )

    def note_id(self, delivery_key: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.scalar(
                sa.select(table.c.note_id).where(table.c.delivery_key == delivery_key)
            )
        return None if value is None else int(value)
