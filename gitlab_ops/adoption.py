"""Adopting a rollout issue opened by hand: mark its steps in GitLab, record it with its flag.

The telling of tasks for steps is `templates.adoption`'s (pure); here are the reads and
the one write. GitLab's REST API has no optimistic locking for descriptions (gitlab
issue 465150), so, as for unticking, each attempt reads the issue, writes the markers
into what it read, and reads again to check; someone editing in between makes it start
over, up to `ADOPT_ATTEMPTS` times. Only after the markers are in is the issue recorded
(flag, template rendering, step shapes, the adoption's report), in one transaction: a
crash in between leaves markers that a new attempt recognises as its own and keeps.

Adopting an issue the bot already knows changes nothing; a retry of the very request
that adopted it (the same `request_key`) gets that adoption's report again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from flags.commands import undefined_refusal
from flags.definitions import Registry
from flags.errors import Refusal
from gitlab_ops import issues, step_records
from gitlab_ops.client import GitLab, IssueView
from gitlab_ops.schema import issue_adoptions, rollout_issues
from templates.adoption import Adoption, adopt, flag_from_title
from templates.adoption_report import AdoptionReport

ADOPT_ATTEMPTS = 5

# User-facing refusals, one line each.
NOT_A_ROLLOUT_TITLE = (
    "the issue's title is {title!r}, not ``[Feature flag] Rollout of `NAME` ``, so it names "
    "no flag: rename it, then adopt it again"
)
KEPT_CHANGING = (
    "the issue's description changed while the bot wrote its step markers, {attempts} times "
    "in a row; nothing was recorded: adopt it again"
)
BAD_URL = "{url!r} is not an issue URL such as https://gitlab.example.com/group/project/-/issues/12"

_ISSUE_URL = re.compile(
    r"https?://[^/\s]+/(?P<path>[^\s?#]+?)/-/(?:issues|work_items)/(?P<iid>\d+)/?(?:[?#]\S*)?"
)


def parse_issue_url(url: str) -> tuple[str, int]:
    """The project path and issue iid of an issue's web URL; `Refusal` otherwise."""
    found = _ISSUE_URL.fullmatch(url.strip())
    if found is None:
        raise Refusal(BAD_URL.format(url=url))
    return found.group("path"), int(found.group("iid"))


@dataclass(frozen=True)
class Adopted:
    """What `adopt_issue` did: adopted now (or by this same request before), or already known."""

    status: Literal["adopted", "already"]
    flag: str
    web_url: str
    report: AdoptionReport | None = None


def adopt_issue(
    engine: Engine,
    client: GitLab,
    project_id: int,
    iid: int,
    *,
    registry: Registry,
    environments: Sequence[str],
    who: str,
    request_key: str,
    before_write: Callable[[], None] = lambda: None,
) -> Adopted:
    """Make a hand-made rollout issue a control panel; `Refusal` says why it cannot be.

    `before_write` runs right before the description is written (a worker checks its
    lease there).
    """
    known = _known(engine, project_id, iid, request_key)
    if known is not None:
        return known
    issue = client.issue(project_id, iid)
    flag = flag_from_title(issue.title)
    if flag is None:
        raise Refusal(NOT_A_ROLLOUT_TITLE.format(title=issue.title))
    if registry.get(flag) is None:
        raise undefined_refusal(registry, flag)
    adoption = _write_markers(client, issue, flag, environments, before_write)
    report = adoption.report()
    try:
        with engine.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            conn.execute(
                sa.insert(rollout_issues).values(
                    project_id=project_id,
                    issue_iid=iid,
                    flag=flag,
                    web_url=issue.web_url,
                    created_at=now,
                )
            )
            step_records.record(
                conn, project_id, iid, adoption.rendering, adoption.shapes, "adopted"
            )
            conn.execute(
                sa.insert(issue_adoptions).values(
                    project_id=project_id,
                    issue_iid=iid,
                    adopted_by=who,
                    request_key=request_key,
                    report=report.to_json(),
                    adopted_at=now,
                )
            )
    except IntegrityError:  # adopted meanwhile by another request: that one stands
        known = _known(engine, project_id, iid, request_key)
        if known is None:
            raise
        return known
    return Adopted("adopted", flag, issue.web_url, report)


def _known(engine: Engine, project_id: int, iid: int, request_key: str) -> Adopted | None:
    flag = issues.flag_of(engine, project_id, iid)
    if flag is None:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                rollout_issues.c.web_url, issue_adoptions.c.request_key, issue_adoptions.c.report
            )
            .select_from(rollout_issues.outerjoin(issue_adoptions))
            .where(rollout_issues.c.project_id == project_id, rollout_issues.c.issue_iid == iid)
        ).one()
    url = str(row.web_url or "")
    if row.request_key == request_key:
        return Adopted("adopted", flag, url, AdoptionReport.from_json(row.report))
    return Adopted("already", flag, url)


def _write_markers(
    client: GitLab,
    issue: IssueView,
    flag: str,
    environments: Sequence[str],
    before_write: Callable[[], None],
) -> Adoption:
    """Write the markers into the description as read, and check they stuck."""
    for _ in range(ADOPT_ATTEMPTS):
        adoption = adopt(flag, issue.description, environments)
        if not adoption.changed:
            return adoption
        before_write()
        client.set_description(issue.project_id, issue.iid, adoption.text)
        issue = client.issue(issue.project_id, issue.iid)
        if issue.description == adoption.text:
            return adoption
    raise Refusal(KEPT_CHANGING.format(attempts=ADOPT_ATTEMPTS))
