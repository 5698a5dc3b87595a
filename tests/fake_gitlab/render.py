"""REST API (v4) representations, shaped like the examples in GitLab's API docs.

Examples followed: https://docs.gitlab.com/api/issues/#single-project-issue,
https://docs.gitlab.com/api/notes/, https://docs.gitlab.com/api/project_members/ and
https://docs.gitlab.com/api/features/. Call with the state lock held.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from tests.fake_gitlab.models import (
    Feature,
    FeatureDefinition,
    Group,
    Issue,
    Member,
    Note,
    Project,
    User,
)
from tests.fake_gitlab.state import State

Json = dict[str, Any]


def api_time(value: datetime | None) -> str | None:
    """ISO 8601 with milliseconds, as the REST API writes it: `2016-01-04T15:31:46.176Z`."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def avatar_url(user: User) -> str:
    digest = hashlib.md5(user.username.encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?s=80&d=identicon"


def user_basic(base: str, user: User) -> Json:
    return {
        "id": user.id,
        "username": user.username,
        "public_email": user.public_email or None,
        "name": user.name,
        "state": user.state,
        "locked": user.state == "blocked",
        "avatar_url": avatar_url(user),
        "web_url": f"{base}/{user.username}",
    }


def user_detail(base: str, user: User, *, is_self: bool = False) -> Json:
    """`GET /users/:id`; `GET /user` (`is_self`) adds the private fields."""
    data = user_basic(base, user) | {
        "created_at": api_time(user.created_at),
        "bio": "",
        "location": "",
        "linkedin": "",
        "twitter": "",
        "discord": "",
        "website_url": "",
        "organization": "",
        "job_title": "",
        "pronouns": None,
        "bot": user.username.endswith("_bot"),
        "work_information": None,
        "followers": 0,
        "following": 0,
        "is_followed": False,
        "local_time": None,
    }
    if is_self:
        data |= {
            "last_sign_in_at": api_time(user.created_at),
            "confirmed_at": api_time(user.created_at),
            "last_activity_on": None,
            "email": user.public_email or f"{user.username}@example.com",
            "theme_id": 1,
            "color_scheme_id": 1,
            "projects_limit": 100000,
            "current_sign_in_at": api_time(user.created_at),
            "identities": [],
            "can_create_group": True,
            "can_create_project": True,
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
            "commit_email": user.public_email or f"{user.username}@example.com",
            "is_admin": user.is_admin,
        }
    return data


def group(state: State, base: str, grp: Group) -> Json:
    full_path = state.full_path(grp)
    return {
        "id": grp.id,
        "web_url": f"{base}/groups/{full_path}",
        "name": grp.name,
        "path": grp.path,
        "description": grp.description,
        "visibility": grp.visibility,
        "full_name": state.full_name(grp),
        "full_path": full_path,
        "created_at": api_time(grp.created_at),
        "parent_id": grp.parent_id,
        "avatar_url": None,
    }


def namespace(state: State, base: str, ns: Group | User) -> Json:
    if isinstance(ns, Group):
        full_path = state.full_path(ns)
        return {
            "id": ns.id,
            "name": ns.name,
            "path": ns.path,
            "kind": "group",
            "full_path": full_path,
            "parent_id": ns.parent_id,
            "avatar_url": None,
            "web_url": f"{base}/groups/{full_path}",
        }
    return {
        "id": ns.namespace_id,
        "name": ns.name,
        "path": ns.username,
        "kind": "user",
        "full_path": ns.username,
        "parent_id": None,
        "avatar_url": avatar_url(ns),
        "web_url": f"{base}/{ns.username}",
    }


def project(state: State, base: str, proj: Project) -> Json:
    ns = state.namespace_of(proj)
    path_with_namespace = state.path_with_namespace(proj)
    name_space = state.full_name(ns) if isinstance(ns, Group) else ns.name
    api = f"{base}/api/v4/projects/{proj.id}"
    host = base.split("://", 1)[-1]
    return {
        "id": proj.id,
        "description": proj.description,
        "name": proj.name,
        "name_with_namespace": f"{name_space} / {proj.name}",
        "path": proj.path,
        "path_with_namespace": path_with_namespace,
        "created_at": api_time(proj.created_at),
        "default_branch": proj.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@{host}:{path_with_namespace}.git",
        "http_url_to_repo": f"{base}/{path_with_namespace}.git",
        "web_url": f"{base}/{path_with_namespace}",
        "readme_url": None,
        "avatar_url": None,
        "forks_count": 0,
        "star_count": 0,
        "last_activity_at": api_time(proj.created_at),
        "namespace": namespace(state, base, ns),
        "visibility": proj.visibility,
        "_links": {
            "self": api,
            "issues": f"{api}/issues",
            "merge_requests": f"{api}/merge_requests",
            "repo_branches": f"{api}/repository/branches",
            "labels": f"{api}/labels",
            "events": f"{api}/events",
            "members": f"{api}/members",
        },
        "archived": False,
        "empty_repo": proj.repository.empty,
        "issues_enabled": True,
        "open_issues_count": sum(i.state == "opened" for i in proj.issues.values()),
    }


def issue(state: State, base: str, iss: Issue) -> Json:
    proj = state.projects[iss.project_id]
    path_with_namespace = state.path_with_namespace(proj)
    api = f"{base}/api/v4/projects/{proj.id}/issues/{iss.iid}"
    assignees = [user_basic(base, state.users[uid]) for uid in iss.assignee_ids]
    closed_by = state.users.get(iss.closed_by_id) if iss.closed_by_id else None
    tasks = iss.task_completion()
    return {
        "id": iss.id,
        "iid": iss.iid,
        "project_id": proj.id,
        "title": iss.title,
        "description": iss.description,
        "state": iss.state,
        "created_at": api_time(iss.created_at),
        "updated_at": api_time(iss.updated_at),
        "closed_at": api_time(iss.closed_at),
        "closed_by": user_basic(base, closed_by) if closed_by else None,
        "labels": [label.title for label in iss.labels],
        "milestone": None,
        "assignees": assignees,
        "author": user_basic(base, state.users[iss.author_id]),
        "type": "ISSUE",
        "assignee": assignees[0] if assignees else None,
        "user_notes_count": sum(not n.system for n in iss.notes),
        "merge_requests_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "due_date": iss.due_date,
        "confidential": iss.confidential,
        "discussion_locked": iss.discussion_locked,
        "issue_type": "issue",
        "web_url": f"{base}/{path_with_namespace}/-/issues/{iss.iid}",
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        },
        "task_completion_status": tasks,
        "has_tasks": tasks["count"] > 0,
        "task_status": f"{tasks['completed_count']} of {tasks['count']} checklist items completed",
        "_links": {
            "self": api,
            "notes": f"{api}/notes",
            "award_emoji": f"{api}/award_emoji",
            "project": f"{base}/api/v4/projects/{proj.id}",
            "closed_as_duplicate_of": None,
        },
        "references": {
            "short": f"#{iss.iid}",
            "relative": f"#{iss.iid}",
            "full": f"{path_with_namespace}#{iss.iid}",
        },
        "severity": "UNKNOWN",
        "subscribed": False,
        "moved_to_id": None,
        "imported": False,
        "imported_from": "none",
        "service_desk_reply_to": None,
    }


def note_author(base: str, user: User) -> Json:
    """The note docs show `email` and `created_at` on the author; newer GitLab adds the rest."""
    return user_basic(base, user) | {
        "email": user.public_email or f"{user.username}@example.com",
        "created_at": api_time(user.created_at),
    }


def note(state: State, base: str, nte: Note) -> Json:
    iss = state.issues[nte.issue_id]
    return {
        "id": nte.id,
        "type": None,
        "body": nte.body,
        "author": note_author(base, state.users[nte.author_id]),
        "created_at": api_time(nte.created_at),
        "updated_at": api_time(nte.updated_at),
        "system": nte.system,
        "noteable_id": iss.id,
        "noteable_type": "Issue",
        "project_id": nte.project_id,
        "noteable_iid": iss.iid,
        "commands_changes": {},
        "resolvable": False,
        "confidential": nte.internal,
        "internal": nte.internal,
        "imported": False,
        "imported_from": "none",
    }


def member(state: State, base: str, user: User, mem: Member) -> Json:
    creator = state.users.get(mem.created_by_id) if mem.created_by_id else None
    return user_basic(base, user) | {
        "access_level": mem.access_level,
        "created_at": api_time(mem.created_at),
        "created_by": user_basic(base, creator) if creator else None,
        "email": user.public_email or None,
        "expires_at": mem.expires_at,
        "group_saml_identity": None,
        "membership_state": "active",
    }


def feature(feat: Feature, definition: FeatureDefinition | None) -> Json:
    """`GET /features` item: the boolean gate always first, then the gates that are set."""
    gates: list[Json] = [{"key": "boolean", "value": feat.boolean}]
    if feat.actors:
        gates.append({"key": "actors", "value": list(feat.actors)})
    if feat.groups:
        gates.append({"key": "groups", "value": list(feat.groups)})
    if feat.percentage_of_actors is not None:
        gates.append({"key": "percentage_of_actors", "value": feat.percentage_of_actors})
    if feat.percentage_of_time is not None:
        gates.append({"key": "percentage_of_time", "value": feat.percentage_of_time})
    # Flipper's Feature#state: on when the boolean is set or time is at 100%.
    if feat.boolean or feat.percentage_of_time == 100:
        state = "on"
    else:
        state = "conditional" if len(gates) > 1 else "off"
    return {
        "name": feat.name,
        "state": state,
        "gates": gates,
        "definition": feature_definition(definition) if definition else None,
    }


def feature_definition(definition: FeatureDefinition) -> Json:
    return {
        "name": definition.name,
        "introduced_by_url": definition.introduced_by_url,
        "rollout_issue_url": definition.rollout_issue_url,
        "milestone": definition.milestone,
        "log_state_changes": definition.log_state_changes,
        "type": definition.type,
        "group": definition.group,
        "default_enabled": definition.default_enabled,
    }
