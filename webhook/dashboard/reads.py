"""What the pages read from the database; every function here is one or two queries.

Kept apart from the view models so the benchmark can time the reads alone (the
floor a page's render time is measured against).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flags.schema import flag_audit, flag_instances
from flags.sql_store import SqlStore, audit_record
from flags.store import AuditRecord, Snapshot
from gitlab_ops.schema import rollout_issues
from tracking import sent_counts
from webhook.dashboard.when import aware
from webhook.inbox import PENDING
from webhook.schema import delivery_comments, inbox_deliveries

TRACKED_TABLE = "group_stages"


def snapshot(engine: Engine) -> Snapshot:
    return SqlStore(engine).snapshot()


def instances(engine: Engine) -> dict[str, str]:
    """The environments the bot keeps on a GitLab instance, as it recorded them."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(flag_instances)).all()
    return {row.environment: row.instance for row in rows}


def instance_history(engine: Engine, environments: Collection[str]) -> list[AuditRecord]:
    """Every audit row of those environments (the changes the bot made on the instance)."""
    if not environments:
        return []
    query = sa.select(flag_audit).where(flag_audit.c.environment.in_(sorted(environments)))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(flag_audit.c.at, flag_audit.c.id)).all()
    return [audit_record(row) for row in rows]


def history(engine: Engine, flag: str) -> list[AuditRecord]:
    """Newest first, exactly what `feature history --json` lists."""
    return SqlStore(engine).history(flag)


def last_changes(engine: Engine) -> dict[str, AuditRecord]:
    """Each flag's newest audit row, in one query."""
    newest = sa.select(sa.func.max(flag_audit.c.id)).group_by(flag_audit.c.feature)
    query = sa.select(flag_audit).where(flag_audit.c.id.in_(newest.scalar_subquery()))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {row.feature: audit_record(row) for row in rows}


def issue_urls(engine: Engine, flag: str | None = None) -> dict[str, str]:
    """Each flag's newest rollout issue."""
    query = sa.select(rollout_issues.c.flag, rollout_issues.c.web_url).order_by(
        rollout_issues.c.created_at
    )
    if flag is not None:
        query = query.where(rollout_issues.c.flag == flag)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {row.flag: row.web_url for row in rows if row.web_url}  # newest wins


@dataclass(frozen=True)
class NoteLink:
    url: str
    is_comment: bool  # False: the issue itself (the comment's id is not known)


def note_links(engine: Engine, deliveries: Collection[str]) -> dict[str, NoteLink]:
    """Where the bot answered each delivery: its comment, else the issue it came from.

    A delivery's inbox row is purged after the retention period; the audit row keeps
    its key, and then no link is shown.
    """
    if not deliveries:
        return {}
    query = (
        sa.select(
            inbox_deliveries.c.delivery_key,
            delivery_comments.c.note_id,
            rollout_issues.c.web_url,
        )
        .select_from(inbox_deliveries)
        .join(
            rollout_issues,
            sa.and_(
                rollout_issues.c.project_id == inbox_deliveries.c.project_id,
                rollout_issues.c.issue_iid == inbox_deliveries.c.issue_iid,
            ),
        )
        .outerjoin(
            delivery_comments,
            delivery_comments.c.delivery_key == inbox_deliveries.c.delivery_key,
        )
        .where(inbox_deliveries.c.delivery_key.in_(sorted(deliveries)))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    links = {}
    for row in rows:
        if not row.web_url:
            continue
        if row.note_id is None:
            links[row.delivery_key] = NoteLink(row.web_url, is_comment=False)
        else:
            # GitLab's anchor for a comment on an issue page.
            links[row.delivery_key] = NoteLink(f"{row.web_url}#note_{row.note_id}", True)
    return links


def events_per_hour(engine: Engine, since: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """The tracked table's sent events per hour (every operation), from the tracker's counts.

    In UTC: PostgreSQL hands timestamps back in the session's zone, often the server's
    local time, and the pages label hours by their text."""
    totals: dict[dt.datetime, int] = {}
    for count in sent_counts.by_hour(engine, since):
        if count.table == TRACKED_TABLE:
            hour = aware(count.hour).astimezone(dt.UTC)
            totals[hour] = totals.get(hour, 0) + count.events
    return sorted(totals.items())


def oldest_waiting(engine: Engine) -> dt.datetime | None:
    """When the oldest delivery still waiting for a worker arrived."""
    with engine.connect() as conn:
        value = conn.scalar(
            sa.select(sa.func.min(inbox_deliveries.c.received_at)).where(
                inbox_deliveries.c.status == PENDING
            )
        )
    return None if value is None else aware(value)
