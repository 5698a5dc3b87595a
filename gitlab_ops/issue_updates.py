"""The durable queue of what the bot owes rollout issues: comments and state note refreshes.

A flag change commits first, then queues its updates here, so GitLab being down
loses none: a worker posts them later, retrying with backoff. It is the same
lease queue as the webhook inbox (`gitlab_ops.lease_queue`: one issue at a time
in id order, many issues in parallel, leases on the database's clock, renewed
while an update is posted). A state note refresh holds no text: it renders the
state when it is posted, so one pending refresh per issue is enough and later
requests coalesce into it.

A process that wants to post its own updates at once (the CLI) enqueues them
already leased to itself, so no worker races it for them; when an earlier
update of the issue is still open they are queued behind it instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

# Re-exported: callers of the queue name its statuses through it.
from gitlab_ops.lease_queue import DONE as DONE
from gitlab_ops.lease_queue import FAILED as FAILED
from gitlab_ops.lease_queue import OPEN as OPEN
from gitlab_ops.lease_queue import PENDING as PENDING
from gitlab_ops.lease_queue import PROCESSING as PROCESSING
from gitlab_ops.lease_queue import STATUSES as STATUSES
from gitlab_ops.lease_queue import LeaseQueue, clock, utcnow
from gitlab_ops.update_schema import issue_updates as updates

# Claimed, a refresh may render before a later change: let a new refresh queue.
QUEUE = LeaseQueue(updates, on_claim={"coalesce_key": None})

COMMENT = "comment"
STATE_NOTE = "state_note"
# Seconds an update stays leased to a worker without a renewal.
DEFAULT_LEASE = 60.0


@dataclass(frozen=True)
class IssueUpdate:
    id: int
    key: str
    project_id: int
    issue_iid: int
    kind: str
    flag: str
    body: str | None
    event_uuid: str | None
    status: str
    attempts: int
    last_error: str | None


def new_key() -> str:
    return uuid.uuid4().hex


def issue_key(project_id: int, issue_iid: int) -> str:
    return f"{project_id}#{issue_iid}"


def _update(row: Any) -> IssueUpdate:
    return IssueUpdate(
        id=row.id,
        key=row.key,
        project_id=row.project_id,
        issue_iid=row.issue_iid,
        kind=row.kind,
        flag=row.flag,
        body=row.body,
        event_uuid=row.event_uuid,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
    )


def _insert_once(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert unless a pending refresh of the issue exists; the new id, or None."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(updates).values(**values).on_conflict_do_nothing().returning(updates.c.id)
    )
    return conn.execute(statement).scalar()


def enqueue(
    engine: Engine,
    project_id: int,
    issue_iid: int,
    flag: str,
    *,
    comment: str | None = None,
    comment_key: str | None = None,
    event_uuid: str | None = None,
    lease_to: str | None = None,
    lease: float = DEFAULT_LEASE,
) -> list[IssueUpdate]:
    """Queue a comment (if given) and a state note refresh, in one transaction.

    Returns the updates leased to `lease_to` (in posting order): none when no
    one asked for a lease or an earlier update of the issue is still open.
    """
    now = utcnow()
    key = issue_key(project_id, issue_iid)
    with engine.begin() as conn:
        earlier_open = conn.scalar(
            sa.select(sa.func.count())
            .select_from(updates)
            .where(updates.c.issue_key == key, updates.c.status.in_(OPEN))
        )
        leased = lease_to is not None and not earlier_open
        common: dict[str, Any] = {
            "project_id": project_id,
            "issue_iid": issue_iid,
            "issue_key": key,
            "flag": flag,
            "event_uuid": event_uuid,
            "created_at": now,
            # Compared with the database's clock by the claim, so set by it too.
            "next_attempt_at": clock(conn.dialect.name),
        }
        if leased:
            assert lease_to is not None
            common.update(QUEUE.leased(conn, lease_to, lease))
        else:
            common.update(status=PENDING, attempts=0)
        ids: list[int] = []
        if comment is not None:
            values = {**common, "key": comment_key or new_key(), "kind": COMMENT, "body": comment}
            inserted = _insert_once(conn, values)
            assert inserted is not None  # a fresh key never conflicts
            ids.append(inserted)
        refresh = {**common, "key": new_key(), "kind": STATE_NOTE, "body": None}
        if not leased:
            refresh["coalesce_key"] = key  # a pending refresh already queued takes this one
        inserted = _insert_once(conn, refresh)
        if inserted is not None:
            ids.append(inserted)
        if not leased:
            return []
        rows = conn.execute(sa.select(updates).where(updates.c.id.in_(ids)).order_by(updates.c.id))
        return [_update(row) for row in rows]


def claim(
    engine: Engine, worker: str, *, lease: float, now: dt.datetime | None = None
) -> IssueUpdate | None:
    """Lease the next update this worker may post, or None when none is ready."""
    row = QUEUE.claim(engine, worker, lease=lease, now=now)
    return None if row is None else _update(row)


def renew(engine: Engine, update_id: int, worker: str, *, lease: float) -> bool:
    """Extend a lease its owner still holds; False once another worker claimed it."""
    return QUEUE.renew(engine, update_id, worker, lease=lease)


def complete(engine: Engine, update_id: int, worker: str) -> bool:
    return QUEUE.complete(engine, update_id, worker)


def reschedule(
    engine: Engine, update_id: int, worker: str, *, error: str | None, delay: float
) -> bool:
    return QUEUE.reschedule(engine, update_id, worker, error=error, delay=delay)


def release(engine: Engine, update_id: int, worker: str) -> bool:
    """Give back a leased update that was not tried: due now, the lease's attempt undone."""
    return QUEUE.release(engine, update_id, worker)


def fail(engine: Engine, update_id: int, worker: str, *, error: str) -> bool:
    return QUEUE.fail(engine, update_id, worker, error=error)


def listing(
    engine: Engine, statuses: Sequence[str] | None = None, limit: int = 100
) -> list[IssueUpdate]:
    query = sa.select(updates).order_by(updates.c.id).limit(limit)
    if statuses:
        query = query.where(updates.c.status.in_(statuses))
    with engine.connect() as conn:
        return [_update(row) for row in conn.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    return QUEUE.counts(engine)
