"""Webhook request bodies, shaped like GitLab's hook data builders.

Examples: https://docs.gitlab.com/user/project/integrations/webhook_events/ (work item
events for issues, comment on an issue, merge request events).
Behaviour follows GitLab's source rather than the doc example where they differ:
`changes` holds only what the save changed (`Issuable#to_hook_data`), and
`assignees`/`assignee` (and a merge request's `reviewers`) are present only when
there are some (`Gitlab::DataBuilder::Issuable#build`). Call with the state lock held.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from tests.fake_gitlab import merge_requests as mr_rules
from tests.fake_gitlab.merge_requests import MergeRequestChange
from tests.fake_gitlab.models import Issue, Label, MergeRequest, Note, Project, User
from tests.fake_gitlab.render import api_time, avatar_url
from tests.fake_gitlab.render_git import git_time, project_url
from tests.fake_gitlab.state import IssueChange, State

Json = dict[str, Any]

VISIBILITY_LEVELS = {"private": 0, "internal": 10, "public": 20}


def hook_time(value: datetime | None) -> str | None:
    """Hook payloads write Ruby's `Time#to_s` form: `2026-11-20 10:15:02 UTC`."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else None


def user_attrs(user: User) -> Json:
    # User#hook_attrs: the public email, or "[REDACTED]" when there is none.
    return {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "avatar_url": avatar_url(user),
        "email": user.public_email or "[REDACTED]",
    }


def project_attrs(state: State, base: str, project: Project) -> Json:
    namespace = state.namespace_of(project)
    path = state.path_with_namespace(project)
    web_url = f"{base}/{path}"
    ssh_url = f"git@{base.split('://', 1)[-1]}:{path}.git"
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "web_url": web_url,
        "avatar_url": None,
        "git_ssh_url": ssh_url,
        "git_http_url": f"{web_url}.git",
        "namespace": namespace.name,
        "visibility_level": VISIBILITY_LEVELS[project.visibility],
        "path_with_namespace": path,
        "default_branch": project.default_branch,
        "ci_config_path": None,
        "homepage": web_url,
        "url": ssh_url,
        "ssh_url": ssh_url,
        "http_url": f"{web_url}.git",
    }


def repository_attrs(project: Json) -> Json:
    """Deprecated `repository` key: a slice of the project's hook attributes."""
    return {key: project[key] for key in ("name", "url", "description", "homepage")}


def label_attrs(label: Label) -> Json:
    return {
        "id": label.id,
        "title": label.title,
        "color": label.color,
        "project_id": label.project_id,
        "created_at": api_time(label.created_at),
        "updated_at": api_time(label.created_at),
        "template": False,
        "description": label.description,
        "type": "ProjectLabel",
        "group_id": None,
    }


def issue_attrs(state: State, base: str, issue: Issue) -> Json:
    """Issue#hook_attrs (Gitlab::HookData::IssueBuilder#build)."""
    project = state.projects[issue.project_id]
    return {
        "id": issue.id,
        "title": issue.title,
        "assignee_ids": list(issue.assignee_ids),
        "assignee_id": issue.assignee_ids[0] if issue.assignee_ids else None,
        "author_id": issue.author_id,
        "project_id": issue.project_id,
        "created_at": hook_time(issue.created_at),
        "updated_at": hook_time(issue.updated_at),
        "updated_by_id": issue.updated_by_id,
        "last_edited_at": hook_time(issue.last_edited_at),
        "last_edited_by_id": issue.last_edited_by_id,
        "relative_position": issue.relative_position,
        "description": issue.description,
        "milestone_id": None,
        "state_id": issue.state_id,
        "confidential": issue.confidential,
        "discussion_locked": issue.discussion_locked,
        "due_date": issue.due_date,
        "moved_to_id": None,
        "duplicated_to_id": None,
        "time_estimate": 0,
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": None,
        "human_time_estimate": None,
        "human_time_change": None,
        "weight": None,
        "health_status": None,
        "type": "Issue",
        "iid": issue.iid,
        "url": f"{base}/{state.path_with_namespace(project)}/-/issues/{issue.iid}",
        "state": issue.state,
        "severity": "unknown",
        # Incident-only on GitLab; kept (null) so consumers see the documented keys.
        "escalation_status": None,
        "escalation_policy": None,
        "labels": [label_attrs(label) for label in issue.labels],
    }


def _change_value(state: State, key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return hook_time(value)
    if key == "labels":
        return [label_attrs(label) for label in value]
    if key in ("assignees", "reviewers"):
        return [user_attrs(state.users[uid]) for uid in value]
    return value


def _changes(state: State, changes: dict[str, tuple[Any, Any]]) -> Json:
    return {
        key: {
            "previous": _change_value(state, key, previous),
            "current": _change_value(state, key, current),
        }
        for key, (previous, current) in sorted(changes.items())
    }


def issue_payload(state: State, base: str, change: IssueChange, actor: User) -> Json:
    issue = change.issue
    project = project_attrs(state, base, state.projects[issue.project_id])
    attributes = issue_attrs(state, base, issue)
    attributes["action"] = change.action
    payload: Json = {
        "object_kind": "issue",
        "event_type": "confidential_issue" if issue.confidential else "issue",
        "user": user_attrs(actor),
        "project": project,
        "object_attributes": attributes,
        "labels": attributes["labels"],
        "changes": _changes(state, change.changes),
        "repository": repository_attrs(project),
    }
    if issue.assignee_ids:
        assignees = [user_attrs(state.users[uid]) for uid in issue.assignee_ids]
        payload["assignees"] = assignees
        payload["assignee"] = assignees[0]  # deprecated: the first assignee
    return payload


def note_payload(state: State, base: str, note: Note, actor: User, action: str) -> Json:
    """Gitlab::DataBuilder::Note.build for a comment on an issue."""
    issue = state.issues[note.issue_id]
    project = project_attrs(state, base, state.projects[note.project_id])
    confidential = note.internal or issue.confidential
    issue_data = issue_attrs(state, base, issue)
    # Legacy keys shown in the documented example; GitLab no longer fills them.
    issue_data |= {"position": 0, "branch_name": None}
    return {
        "object_kind": "note",
        "event_type": "confidential_note" if confidential else "note",
        "user": user_attrs(actor),
        "project_id": note.project_id,
        "project": project,
        "repository": repository_attrs(project),
        "object_attributes": {
            "id": note.id,
            "note": note.body,
            "noteable_type": "Issue",
            "author_id": note.author_id,
            "created_at": hook_time(note.created_at),
            "updated_at": hook_time(note.updated_at),
            "project_id": note.project_id,
            "attachment": None,
            "line_code": None,
            "commit_id": None,
            "noteable_id": issue.id,
            "system": note.system,
            "st_diff": None,
            "action": action,
            "url": f"{issue_data['url']}#note_{note.id}",
            "description": note.body,
            "discussion_id": hashlib.sha1(f"note-{note.id}".encode()).hexdigest(),
            "type": None,
            "internal": note.internal,
            "updated_by_id": note.updated_by_id,
            "position": None,
            "original_position": None,
            "change_position": None,
            "resolved_at": None,
            "resolved_by_id": None,
            "resolved_by_push": None,
        },
        "issue": issue_data,
    }


# Gitlab::HookData::MergeRequestBuilder's safe attributes and relations: all `changes` may hold
# (`draft` is added when a title edit changes it).
MERGE_REQUEST_CHANGE_KEYS = frozenset(
    {
        "assignee_id",
        "author_id",
        "blocking_discussions_resolved",
        "created_at",
        "description",
        "detailed_merge_status",
        "draft",
        "head_pipeline_id",
        "id",
        "iid",
        "last_edited_at",
        "last_edited_by_id",
        "merge_commit_sha",
        "merge_error",
        "merge_params",
        "merge_status",
        "merge_user_id",
        "merge_when_pipeline_succeeds",
        "milestone_id",
        "prepared_at",
        "source_branch",
        "source_project_id",
        "state_id",
        "target_branch",
        "target_project_id",
        "time_estimate",
        "title",
        "updated_at",
        "updated_by_id",
        "assignees",
        "labels",
        "reviewers",
        "total_time_spent",
        "time_change",
    }
)


def merge_request_attrs(state: State, base: str, mr: MergeRequest) -> Json:
    """MergeRequest#hook_attrs (Gitlab::HookData::MergeRequestBuilder#build)."""
    project = state.projects[mr.project_id]
    refs = mr_rules.diff_refs(project, mr)
    merge_status, detailed = mr_rules.merge_status(project, mr)
    draft = mr_rules.is_draft(mr)
    url = project_url(state, base, project)
    head = project.repository.commits.get(refs.head_sha or "")
    last_commit = None
    if head is not None:
        last_commit = {
            "id": head.id,
            "message": head.message,
            "title": head.title,
            "timestamp": git_time(head.committer.when).replace(".000", ""),
            "url": f"{url}/-/commit/{head.id}",
            "author": {"name": head.author.name, "email": head.author.email},
        }
    target = project_attrs(state, base, project)
    return {
        "assignee_id": mr.assignee_ids[0] if mr.assignee_ids else None,
        "author_id": mr.author_id,
        "created_at": hook_time(mr.created_at),
        "description": mr.description,
        "draft": draft,
        "head_pipeline_id": None,
        "id": mr.id,
        "iid": mr.iid,
        "last_edited_at": hook_time(mr.last_edited_at),
        "last_edited_by_id": mr.last_edited_by_id,
        "merge_commit_sha": mr.merge_commit_sha,
        "merge_error": None,
        "merge_params": {
            "force_remove_source_branch": "1" if mr.force_remove_source_branch else "0"
        },
        "merge_status": merge_status,
        "merge_user_id": mr.merge_user_id,
        "merge_when_pipeline_succeeds": False,
        "milestone_id": None,
        "source_branch": mr.source_branch,
        "source_project_id": mr.project_id,
        "state_id": mr.state_id,
        "target_branch": mr.target_branch,
        "target_project_id": mr.project_id,
        "time_estimate": 0,
        "title": mr.title,
        "updated_at": hook_time(mr.updated_at),
        "updated_by_id": mr.updated_by_id,
        "prepared_at": hook_time(mr.created_at),
        "assignee_ids": list(mr.assignee_ids),
        "blocking_discussions_resolved": True,
        "detailed_merge_status": detailed,
        "first_contribution": False,
        "human_time_change": None,
        "human_time_estimate": None,
        "human_total_time_spent": None,
        "labels": [label_attrs(label) for label in mr.labels],
        "last_commit": last_commit,
        "reviewer_ids": list(mr.reviewer_ids),
        "source": target,
        "state": mr.state,
        "target": target,
        "time_change": 0,
        "total_time_spent": 0,
        "url": f"{url}/-/merge_requests/{mr.iid}",
        "work_in_progress": draft,
    }


def merge_request_payload(state: State, base: str, change: MergeRequestChange, actor: User) -> Json:
    mr = change.merge_request
    project = project_attrs(state, base, state.projects[mr.project_id])
    attributes = merge_request_attrs(state, base, mr)
    attributes["action"] = change.action
    changes = {k: v for k, v in change.changes.items() if k in MERGE_REQUEST_CHANGE_KEYS}
    payload: Json = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": user_attrs(actor),
        "project": project,
        "object_attributes": attributes,
        "labels": attributes["labels"],
        "changes": _changes(state, changes),
        "repository": repository_attrs(project),
    }
    if mr.assignee_ids:
        payload["assignees"] = [user_attrs(state.users[uid]) for uid in mr.assignee_ids]
    if mr.reviewer_ids:
        payload["reviewers"] = [user_attrs(state.users[uid]) for uid in mr.reviewer_ids]
    return payload
