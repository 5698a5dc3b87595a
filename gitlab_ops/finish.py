"""`rollout-bot cleanup finish FLAG`: after the cleanup MR is merged, close the rollout.

Run by CI on the default branch. Every part is safe to run again: deleting
state that is gone changes nothing, ticked boxes stay ticked, the comment
carries a marker and is posted once, a closed issue stays closed. A run that
deletes state queues a state note refresh before touching GitLab, so a failure
below still leaves it for the worker.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from flags.commands import Context, purge
from flags.store import AuditRecord
from gitlab_ops import issue_posting, issue_updates, issues
from gitlab_ops.client import GitLab
from gitlab_ops.issue_updates import IssueUpdate
from gitlab_ops.retry import RetryPolicy
from templates.steps import TaskNotFound, set_checked
from templates.tasklist import parse_tasks

# The steps a merged cleanup MR and `finish` complete, in the rollout issue template.
FINISHED_STEPS = (
    "cleanup-mr",
    "cleanup-mr-references",
    "cleanup-mr-definition",
    "cleanup-mr-changelog",
    "cleanup-delete",
    "cleanup-delete-command",
    "cleanup-close-rollout",
)
WRITE_ATTEMPTS = 5
DEFAULT_POLICY = RetryPolicy()


def finish_marker(flag: str) -> str:
    return f"<!-- rollout-bot:cleanup-finish={flag} -->"


@dataclass
class FinishReport:
    flag: str
    deleted: list[AuditRecord] = field(default_factory=list)
    issue_url: str | None = None
    ticked: list[str] = field(default_factory=list)
    commented: bool = False
    closed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.deleted or self.ticked or self.commented or self.closed)

    def lines(self) -> list[str]:
        out = [
            f"{self.flag}: state deleted in "
            + (", ".join(r.environment for r in self.deleted) or "no environment (none was set)")
        ]
        if self.issue_url is None:
            out.append(f"{self.flag}: no rollout issue recorded")
            return out
        out.append(f"{self.issue_url}: ticked {', '.join(self.ticked) or 'nothing new'}")
        out.append(f"{self.issue_url}: " + ("commented" if self.commented else "comment was there"))
        out.append(f"{self.issue_url}: " + ("closed" if self.closed else "already closed"))
        return out


def _comment(flag: str, deleted: list[AuditRecord], merge_request: str | None) -> str:
    envs = ", ".join(r.environment for r in deleted) or "none (no environment had state)"
    via = f" after {merge_request} was merged" if merge_request else ""
    return (
        f"{finish_marker(flag)}\n"
        f":checkered_flag: The cleanup of `{flag}` is finished{via}: its definition and "
        f"references are gone, its state was deleted in every environment ({envs}), and "
        "this rollout issue is closed.\n"
    )


def _tick_all(client: GitLab, project_id: int, iid: int) -> list[str]:
    for _ in range(WRITE_ATTEMPTS):
        description = client.issue(project_id, iid).description
        updated, ticked = description, []
        for step in FINISHED_STEPS:
            try:
                edited = set_checked(updated, step, True)
            except TaskNotFound:
                continue
            if edited != updated:
                ticked.append(step)
            updated = edited
        if not ticked:
            return []
        client.set_description(project_id, iid, updated)
        after = {t.marker: t for t in parse_tasks(client.issue(project_id, iid).description)}
        if all(after.get(step) is None or after[step].checked for step in ticked):
            return ticked
    return []


def finish(
    engine: Engine,
    context: Context,
    client: GitLab | None,
    flag: str,
    *,
    merge_request: str | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> FinishReport:
    report = FinishReport(flag, deleted=purge(context, flag))
    located = issues.find_by_flag(engine, flag)
    if located is None or client is None:
        return report
    project_id, iid, url = located
    report.issue_url = url
    # Queued before any GitLab call, so the state note learns of the deletion even
    # if GitLab fails below; posted at the end, or left to the worker.
    me = f"{socket.gethostname()}:{os.getpid()}:cleanup-finish"
    leased: list[IssueUpdate] = []
    if report.deleted:
        leased = issue_updates.enqueue(engine, project_id, iid, flag, lease_to=me)
    try:
        report.ticked = _tick_all(client, project_id, iid)
        marker = finish_marker(flag)
        if not client.has_note_containing(project_id, iid, marker):
            client.create_note(project_id, iid, _comment(flag, report.deleted, merge_request))
            report.commented = True
        if client.issue(project_id, iid).state != "closed":
            client.close_issue(project_id, iid)
            report.closed = True
    except BaseException:
        issue_posting.release(engine, leased, me)
        raise
    issue_posting.deliver_leased(engine, client, leased, me, context, policy)
    return report
