"""What durable tracking refuses, and why: the sessions whose events cannot commit with them.

The outbox promise is that a change and its event commit or roll back
together, in one database transaction. Two kinds of session cannot give that:

- a two-phase session (`twophase=True`) prepares its transaction before the
  commit, and the outbox rows would have to be in it when it is prepared; not
  supported (and not testable here: PostgreSQL's max_prepared_transactions is 0
  by default);
- a connection in AUTOCOMMIT commits each statement on its own: the change is
  durable after its flush, a later rollback does not undo it, and there is no
  transaction for the event to join. Tracking it "correctly" would mean
  writing events at each flush, uncoalesced, and losing the event when the
  process dies between two statements; refusing is the honest answer.

Both are refused with these messages, at `install()` when the session factory
or its engine says so, otherwise at the first tracked flush, before any SQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

TWO_PHASE_REFUSED = (
    "durable tracking does not support two-phase sessions (twophase=True): "
    "its outbox rows cannot be written into a prepared transaction; "
    "use a session without twophase, or install(..., durable=False)"
)
AUTOCOMMIT_REFUSED = (
    "durable tracking needs a database transaction, and this connection runs in "
    "AUTOCOMMIT: each statement would commit on its own, so a change and its event "
    "could not commit or roll back together; track sessions on a connection "
    "without isolation_level='AUTOCOMMIT'"
)


class TrackingRefused(sa.exc.InvalidRequestError):
    """A session durable tracking cannot follow; raised before it writes anything."""


def autocommit(bind: Engine | Connection) -> bool:
    """Whether `bind` runs in AUTOCOMMIT, set by `execution_options` or by `create_engine`."""
    level = bind.get_execution_options().get("isolation_level")
    if level is None:
        # create_engine(isolation_level=...) is kept on the dialect (read, never changed).
        level = getattr(bind.dialect, "_on_connect_isolation_level", None)
    return bool(level == "AUTOCOMMIT")
