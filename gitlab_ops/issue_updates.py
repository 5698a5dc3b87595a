"""The durable queue of what the bot owes rollout issues: comments and state note refreshes.

A flag change commits first, then queues its updates here, so GitLab being down
loses none: a worker posts them later, retrying with backoff. The queue works
like the webhook inbox (leases, one issue at a time in id order, many issues in
parallel, `FOR UPDATE SKIP LOCKED` on PostgreSQL). A state note refresh holds
no text: it renders the state when it is posted, so one pending refresh per
issue is enough and later requests coalesce into it.

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

from gitlab_ops.update_schema import issue_updates as updates

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
OPEN = (PENDING, PROCESSING)
STATUSES = (PENDING, PROCESSING, DONE, FAILED)

COMMENT = "comment"
STATE_NOTE = "state_note"


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


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    lease: float = 60.0,
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
            "next_attempt_at": now,
        }
        if leased:
            common.update(
                status=PROCESSING,
                attempts=1,
                locked_by=lease_to,
                locked_until=now + dt.timedelta(seconds=lease),
            )
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
    now = now or utcnow()
    earlier = updates.alias("earlier")
    ready = sa.or_(
        sa.and_(updates.c.status == PENDING, updates.c.next_attempt_at <= now),
        sa.and_(updates.c.status == PROCESSING, updates.c.locked_until < now),
    )
    blocked = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.issue_key == updates.c.issue_key,
            earlier.c.id < updates.c.id,
            earlier.c.status.in_(OPEN),
        )
        .exists()
    )
    candidate = sa.select(updates.c.id).where(ready, ~blocked).order_by(updates.c.id).limit(1)
    if engine.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True, of=updates)
    statement = (
        sa.update(updates)
        .where(updates.c.id == candidate.scalar_subquery())
        .values(
            status=PROCESSING,
            locked_by=worker,
            locked_until=now + dt.timedelta(seconds=lease),
            attempts=updates.c.attempts + 1,
            # Claimed, it may render before a later change: let a new refresh queue.
            coalesce_key=None,
        )
        .returning(*updates.c)
    )
    with engine.begin() as conn:
        row = conn.execute(statement).first()
    return None if row is None else _update(row)


def _finish(engine: Engine, update_id: int, worker: str, **values: Any) -> bool:
    # Fenced by locked_by, as in the inbox: a reclaimed lease is the new owner's.
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(updates)
            .where(
                updates.c.id == update_id,
                updates.c.locked_by == worker,
                updates.c.status == PROCESSING,
            )
            .values(**values)
        )
    return result.rowcount == 1


def complete(engine: Engine, update_id: int, worker: str) -> bool:
    return _finish(engine, update_id, worker, status=DONE, finished_at=utcnow(), locked_until=None)


def reschedule(
    engine: Engine, update_id: int, worker: str, *, error: str | None, delay: float
) -> bool:
    return _finish(
        engine,
        update_id,
        worker,
        status=PENDING,
        next_attempt_at=utcnow() + dt.timedelta(seconds=delay),
        last_error=error,
        locked_by=None,
        locked_until=None,
    )


def release(engine: Engine, update_id: int, worker: str) -> bool:
    """Give back a leased update that was not tried: due now, the lease's attempt undone."""
    return _finish(
        engine,
        update_id,
        worker,
        status=PENDING,
        attempts=updates.c.attempts - 1,
        next_attempt_at=utcnow(),
        locked_by=None,
        locked_until=None,
    )


def fail(engine: Engine, update_id: int, worker: str, *, error: str) -> bool:
    return _finish(
        engine,
        update_id,
        worker,
        status=FAILED,
        last_error=error,
        finished_at=utcnow(),
        locked_until=None,
    )


def listing(
    engine: Engine, statuses: Sequence[str] | None = None, limit: int = 100
) -> list[IssueUpdate]:
    query = sa.select(updates).order_by(updates.c.id).limit(limit)
    if statuses:
        query = query.where(updates.c.status.in_(statuses))
    with engine.connect() as conn:
        return [_update(row) for row in conn.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(updates.c.status, sa.func.count()).group_by(updates.c.status)
        ).all()
    return {status: int(n) for status, n in rows}
