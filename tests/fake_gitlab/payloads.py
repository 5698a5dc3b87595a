"""Webhook request bodies, shaped like GitLab's hook data builders.

Examples: /work/shared/data/gitlab/webhooks/ (issue_hook.json, note_hook_issue.json).
Behaviour follows GitLab's source rather than the doc example where they differ:
`changes` holds only what the save changed (`Issuable#to_hook_data`), and
`assignees`/`assignee` are present only when the issue has assignees
(`Gitlab::DataBuilder::Issuable#build`). Call with the state lock held.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from tests.fake_gitlab.models import Issue, Label, Note, Project, User
from tests.fake_gitlab.render import api_time, avatar_url
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
    if key == "assignees":
        return [user_attrs(state.users[uid]) for uid in value]
    return value


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
        "changes": {
            key: {
                "previous": _change_value(state, key, previous),
                "current": _change_value(state, key, current),
            }
            for key, (previous, current) in sorted(change.changes.items())
        },
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
