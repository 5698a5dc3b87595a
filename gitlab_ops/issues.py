"""Opening a rollout issue and remembering which flag it rolls out, and how it was rendered."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flags.errors import Refusal
from gitlab_ops import step_records
from gitlab_ops.client import GitLab, IssueView
from gitlab_ops.schema import rollout_issues
from templates.step_binding import Rendering

FEATURE_FLAG_LABEL = "feature flag"


def existing(engine: Engine, project_id: int, flag: str) -> str | None:
    """The URL of this flag's open rollout issue in the project, if one was recorded."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(rollout_issues.c.web_url).where(
                rollout_issues.c.project_id == project_id, rollout_issues.c.flag == flag
            )
        ).first()
    return None if row is None else str(row.web_url)


def record(engine: Engine, issue: IssueView, flag: str, rendering: Rendering) -> None:
    """The issue, its template version and values, and its steps' command shapes, at once."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(rollout_issues).values(
                project_id=issue.project_id,
                issue_iid=issue.iid,
                flag=flag,
                web_url=issue.web_url,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        step_records.record(
            conn, issue.project_id, issue.iid, rendering, rendering.shapes, "rendered"
        )


def flag_of(engine: Engine, project_id: int, iid: int) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(rollout_issues.c.flag).where(
                rollout_issues.c.project_id == project_id, rollout_issues.c.issue_iid == iid
            )
        )


def open_issue(
    engine: Engine,
    client: GitLab,
    project: str,
    flag: str,
    title: str,
    rendering: Rendering,
    labels: list[str],
) -> IssueView:
    """Open the issue once per flag and project; a second time is refused with the first's URL.

    The rendering is recorded with it: a step runs only the command shape read from it.
    """
    project_id = client.project_id(int(project) if project.isdigit() else project)
    url = existing(engine, project_id, flag)
    if url is not None:
        raise Refusal(f"'{flag}' already has a rollout issue in {project}: {url}")
    issue = client.create_issue(project_id, title, rendering.markdown, labels)
    record(engine, issue, flag, rendering)
    return issue


def find_by_flag(engine: Engine, flag: str) -> tuple[int, int, str] | None:
    """The newest recorded rollout issue of a flag: project id, iid, URL."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(rollout_issues)
            .where(rollout_issues.c.flag == flag)
            .order_by(rollout_issues.c.created_at.desc())
        ).first()
    if row is None:
        return None
    return int(row.project_id), int(row.issue_iid), str(row.web_url)
