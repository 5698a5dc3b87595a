"""The recorded command shapes of rollout issues' steps: writing, reading, recording late.

A step runs only the shape recorded here for it (`templates.step_shapes`); a step
without one runs no command. The bot records an issue's shapes in the transaction
that records the issue (`gitlab_ops.issues.open_issue`); `record_missing` binds the
issues recorded before shapes existed, reading each through GitLab.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gitlab_ops.client import GitLab
from gitlab_ops.errors import GitLabError
from gitlab_ops.schema import issue_renderings, rollout_issues, step_shapes
from templates.render import ISSUE_COMMAND_STEP_IDS
from templates.step_binding import Rendering, bind, values_to_json
from templates.step_shapes import CommandShape

Origin = Literal["rendered", "recovered", "adopted"]


def record(
    conn: Connection,
    project_id: int,
    iid: int,
    rendering: Rendering,
    shapes: Mapping[str, CommandShape],
    origin: Origin,
) -> None:
    """Record how an issue was rendered and its steps' shapes, in the caller's transaction."""
    conn.execute(
        sa.insert(issue_renderings).values(
            project_id=project_id,
            issue_iid=iid,
            template_version=rendering.template_version,
            template_values=values_to_json(rendering.values),
            origin=origin,
            recorded_at=dt.datetime.now(dt.UTC),
        )
    )
    if shapes:
        conn.execute(
            sa.insert(step_shapes),
            [
                {"project_id": project_id, "issue_iid": iid, "step": step, "shape": shape.to_json()}
                for step, shape in shapes.items()
            ],
        )


def shape_of(engine: Engine, project_id: int, iid: int, step: str) -> CommandShape | None:
    """The shape recorded for one step, or None: then the step runs no command."""
    with engine.connect() as conn:
        data = conn.scalar(
            sa.select(step_shapes.c.shape).where(
                step_shapes.c.project_id == project_id,
                step_shapes.c.issue_iid == iid,
                step_shapes.c.step == step,
            )
        )
    return None if data is None else CommandShape.from_json(data)


def recorded_steps(conn: Connection, project_id: int, iid: int) -> set[str]:
    return set(
        conn.scalars(
            sa.select(step_shapes.c.step).where(
                step_shapes.c.project_id == project_id, step_shapes.c.issue_iid == iid
            )
        )
    )


@dataclass(frozen=True)
class IssueSteps:
    """What `record_missing` did for one rollout issue."""

    web_url: str
    status: Literal["recorded", "already recorded", "unreadable"]
    recorded: tuple[str, ...] = ()
    unshaped: dict[str, str | None] = field(default_factory=dict)  # step -> why (if known)
    error: str | None = None


def record_missing(engine: Engine, client: GitLab, environments: Sequence[str]) -> list[IssueSteps]:
    """Bind the steps of every recorded rollout issue that has no rendering recorded yet.

    Safe to run again: an issue with a rendering is only reported (with its command
    steps that have no shape), never re-read or re-recorded.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                rollout_issues.c.project_id,
                rollout_issues.c.issue_iid,
                rollout_issues.c.flag,
                rollout_issues.c.web_url,
                issue_renderings.c.template_version,
            )
            .select_from(rollout_issues.outerjoin(issue_renderings))
            .order_by(rollout_issues.c.created_at, rollout_issues.c.project_id)
        ).all()
    reports: list[IssueSteps] = []
    for row in rows:
        project_id, iid = int(row.project_id), int(row.issue_iid)
        url = str(row.web_url or f"project {project_id} issue {iid}")
        if row.template_version is not None:
            with engine.connect() as conn:
                have = recorded_steps(conn, project_id, iid)
            missing: dict[str, str | None] = {
                step: None for step in sorted(ISSUE_COMMAND_STEP_IDS - have)
            }
            reports.append(IssueSteps(url, "already recorded", tuple(sorted(have)), missing))
            continue
        try:
            description = client.issue(project_id, iid).description
        except GitLabError as exc:
            reports.append(IssueSteps(url, "unreadable", error=str(exc)))
            continue
        binding = bind(str(row.flag), description, environments)
        with engine.begin() as conn:
            # Another run may have recorded it meanwhile: keep what that run recorded.
            done = conn.scalar(
                sa.select(sa.func.count())
                .select_from(issue_renderings)
                .where(
                    issue_renderings.c.project_id == project_id,
                    issue_renderings.c.issue_iid == iid,
                )
            )
            if not done:
                record(conn, project_id, iid, binding.rendering, binding.shapes, "recovered")
        if done:
            reports.append(IssueSteps(url, "already recorded"))
            continue
        unshaped: dict[str, str | None] = dict(sorted(binding.unmatched.items()))
        reports.append(IssueSteps(url, "recorded", tuple(sorted(binding.shapes)), unshaped))
    return reports
