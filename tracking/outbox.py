"""The outbox: events written in the application's transaction, sent after it commits.

Writing the event in the same transaction as the change is what makes
delivery exact: a rollback removes both, a commit keeps both, and a crash
after the commit leaves the event for the next sender. The write side runs on
the session's own connection, in its `before_commit` (`tracking.session_listeners`),
as an ordinary Core insert.

The send side (`tracking.claims`, re-exported here) claims rows with a
lease, posts them with no transaction open, and settles them in a short
transaction; see that module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracking.claims import Chunk as Chunk
from tracking.claims import Item as Item
from tracking.claims import Outbox as Outbox
from tracking.schema import outbox


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- write side: inside the application's transaction --------------------------

_INSERT = sa.insert(outbox)


def insert(conn: Connection, payloads: Sequence[str]) -> None:
    """Add events in the connection's open transaction."""
    now = utcnow()
    conn.execute(_INSERT, [{"payload": payload, "created_at": now} for payload in payloads])
