"""The fake's records: plain dataclasses, no behaviour beyond small derived values.

Field names follow GitLab's database columns where a webhook exposes them
(`updated_by_id`, `last_edited_at`, `state_id`), so the payload builders can read
them without a mapping table. A project's `repository` is the Git model of
`repository.py`; its rules live in `repo_services`, `merge_requests` and `deployments`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from tests.fake_gitlab.repository import Repository

# https://docs.gitlab.com/api/access_requests/#valid-access-levels
NO_ACCESS, MINIMAL, GUEST, PLANNER, REPORTER, DEVELOPER, MAINTAINER, OWNER = (
    0,
    5,
    10,
    15,
    20,
    30,
    40,
    50,
)

# Consecutive failed deliveries after which GitLab disables a hook.
HOOK_FAILURE_LIMIT = 4

# GitLab's issues.state_id column.
STATE_IDS = {"opened": 1, "closed": 2}

# GitLab's merge_requests.state_id column.
MERGE_REQUEST_STATE_IDS = {"opened": 1, "closed": 2, "merged": 3, "locked": 4}

# Task-list items as GitLab's Taskable counts them (`- [ ]`, `* [x]`, `1. [ ]`).
_TASK_ITEM = re.compile(r"^[ \t]*(?:[-+*]|\d+[.)])[ \t]+\[([ xX])\][ \t]", re.MULTILINE)


@dataclass
class User:
    id: int
    username: str
    name: str
    namespace_id: int
    created_at: datetime
    state: str = "active"
    is_admin: bool = False
    public_email: str = ""
    token: str = ""


@dataclass
class Group:
    id: int  # GitLab gives a group the id of its namespace
    name: str
    path: str
    created_at: datetime
    parent_id: int | None = None
    description: str = ""
    visibility: str = "public"
    members: dict[int, Member] = field(default_factory=dict)


@dataclass
class Member:
    user_id: int
    access_level: int
    created_at: datetime
    created_by_id: int | None = None
    expires_at: str | None = None


@dataclass
class Label:
    id: int
    title: str
    project_id: int
    created_at: datetime
    color: str = "#6699cc"
    description: str | None = None


@dataclass
class Note:
    id: int
    project_id: int
    issue_id: int
    author_id: int
    body: str
    created_at: datetime
    updated_at: datetime
    system: bool = False
    internal: bool = False
    updated_by_id: int | None = None


@dataclass
class Issue:
    id: int
    iid: int
    project_id: int
    author_id: int
    title: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    state: str = "opened"
    labels: list[Label] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    confidential: bool = False
    discussion_locked: bool | None = None
    due_date: str | None = None
    closed_at: datetime | None = None
    closed_by_id: int | None = None
    updated_by_id: int | None = None
    last_edited_at: datetime | None = None
    last_edited_by_id: int | None = None
    relative_position: int | None = None
    notes: list[Note] = field(default_factory=list)

    @property
    def state_id(self) -> int:
        return STATE_IDS[self.state]

    def task_completion(self) -> dict[str, int]:
        marks = _TASK_ITEM.findall(self.description or "")
        return {"count": len(marks), "completed_count": sum(m in "xX" for m in marks)}


@dataclass
class Project:
    id: int
    name: str
    path: str
    namespace_id: int
    created_at: datetime
    description: str = ""
    default_branch: str = "main"
    visibility: str = "public"
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    repository: Repository = field(default_factory=Repository)
    protected_branches: set[str] = field(default_factory=set)
    merge_method: str = "merge"  # "merge", "rebase_merge" (semi-linear) or "ff"
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)  # by name
    deployments: dict[int, Deployment] = field(default_factory=dict)  # by iid


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    author_id: int
    title: str
    description: str | None
    source_branch: str
    target_branch: str
    created_at: datetime
    updated_at: datetime
    state: str = "opened"
    labels: list[Label] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    reviewer_ids: list[int] = field(default_factory=list)
    force_remove_source_branch: bool = False
    squash: bool = False
    discussion_locked: bool | None = None
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    merged_at: datetime | None = None
    merge_user_id: int | None = None
    closed_at: datetime | None = None
    closed_by_id: int | None = None
    updated_by_id: int | None = None
    last_edited_at: datetime | None = None
    last_edited_by_id: int | None = None
    # The MR diff (GitLab's merge_request_diffs): live while open, kept once merged or closed.
    diff_head_sha: str | None = None
    diff_base_sha: str | None = None
    diff_start_sha: str | None = None

    @property
    def state_id(self) -> int:
        return MERGE_REQUEST_STATE_IDS[self.state]


@dataclass
class Environment:
    id: int
    project_id: int
    name: str
    slug: str
    tier: str
    created_at: datetime
    updated_at: datetime
    external_url: str | None = None
    state: str = "available"


@dataclass
class Deployment:
    id: int
    iid: int
    project_id: int
    environment_id: int
    ref: str
    sha: str
    tag: bool
    status: str
    user_id: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    with_job: bool = True  # deployed by a CI job (`deployable`), not through the API


@dataclass
class Hook:
    """A project (or, with `project_id=None`, instance-wide) webhook."""

    id: int
    uuid: str
    url: str
    token: str | None = None
    signing_token: str | None = None
    project_id: int | None = None
    issues_events: bool = True
    confidential_issues_events: bool = True
    note_events: bool = True
    confidential_note_events: bool = True
    merge_requests_events: bool = True
    recent_failures: int = 0

    @property
    def disabled(self) -> bool:
        """GitLab stops calling a hook after 4 failed deliveries in a row (WebHooks::AutoDisabling)
        until one succeeds again; a manual resend is still sent."""
        return self.recent_failures >= HOOK_FAILURE_LIMIT


@dataclass
class FeatureDefinition:
    name: str
    type: str = "gitlab_com_derisk"
    group: str = "group::unknown"
    default_enabled: bool = False
    introduced_by_url: str | None = None
    rollout_issue_url: str | None = None
    milestone: str | None = None
    log_state_changes: bool | None = None


@dataclass
class Feature:
    """Flipper's gates as GitLab's Features API shows them."""

    name: str
    boolean: bool = False
    percentage_of_time: int | float | None = None
    percentage_of_actors: int | float | None = None
    actors: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
