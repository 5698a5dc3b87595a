"""Merge requests: GitLab's rules for opening, editing, closing and merging them.

Like `State`'s issue methods, every mutation returns a `MergeRequestChange`
holding the hook `action` and exactly the columns that changed. Merging follows
MergeRequests::MergeService: 401 without the right to push to the target, 405
when the MR is not open (or a draft, or its source branch is gone), 406 when
the branch cannot be merged (conflicts, or the target moved on in a
`ff` or `rebase_merge` project), 409 when `sha` is not the source branch's head. Conflicts are
detected per file (both sides changed the same file differently). Call with the
state lock held.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.fake_gitlab.models import DEVELOPER, Label, MergeRequest, Project, User
from tests.fake_gitlab.repo_services import (
    ServiceError,
    access_level,
    can_push,
    delete_branch,
    signature,
    valid_ref_name,
)
from tests.fake_gitlab.repository import Commit, FileDiff, diff_files, merge_files
from tests.fake_gitlab.state import State

DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|\[wip\]|wip:)", re.IGNORECASE)
NOT_ALLOWED = "405 Method Not Allowed"


@dataclass
class MergeRequestChange:
    merge_request: MergeRequest
    action: str  # open, update, close, reopen, merge
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class DiffRefs:
    base_sha: str | None
    head_sha: str | None
    start_sha: str | None


def is_draft(mr: MergeRequest) -> bool:
    return DRAFT.match(mr.title) is not None


# -- the MR's diff ---------------------------------------------------------------------------


def diff_refs(project: Project, mr: MergeRequest) -> DiffRefs:
    """While open: the branches as they are now; afterwards, the diff as it was."""
    branches = project.repository.branches
    if mr.state == "opened" and mr.source_branch in branches and mr.target_branch in branches:
        head, start = branches[mr.source_branch], branches[mr.target_branch]
        base = project.repository.merge_base([head, start])
        mr.diff_head_sha, mr.diff_start_sha = head, start
        mr.diff_base_sha = base.id if base else None
    return DiffRefs(mr.diff_base_sha, mr.diff_head_sha, mr.diff_start_sha)


def changes(project: Project, mr: MergeRequest) -> list[FileDiff]:
    refs = diff_refs(project, mr)
    repo = project.repository
    if refs.head_sha is None:
        return []
    base = repo.commits[refs.base_sha].files if refs.base_sha else {}
    return diff_files(base, repo.commits[refs.head_sha].files)


def commits(project: Project, mr: MergeRequest) -> list[Commit]:
    """The MR's commits, newest first."""
    refs = diff_refs(project, mr)
    if refs.head_sha is None:
        return []
    exclude = [refs.base_sha] if refs.base_sha else []
    return project.repository.log([refs.head_sha], exclude=exclude)


def conflicts(project: Project, mr: MergeRequest) -> list[str]:
    refs = diff_refs(project, mr)
    repo = project.repository
    if refs.head_sha is None or refs.start_sha is None:
        return []
    base = repo.commits[refs.base_sha].files if refs.base_sha else {}
    ours, theirs = repo.commits[refs.start_sha].files, repo.commits[refs.head_sha].files
    return merge_files(base, ours, theirs)[1]


def needs_rebase(project: Project, mr: MergeRequest) -> bool:
    refs = diff_refs(project, mr)
    return project.merge_method != "merge" and refs.base_sha != refs.start_sha


def merge_status(project: Project, mr: MergeRequest) -> tuple[str, str]:
    """(`merge_status`, `detailed_merge_status`) as the REST API shows them."""
    if mr.state != "opened":
        return "can_be_merged", "not_open"
    branches = project.repository.branches
    if mr.source_branch not in branches or mr.target_branch not in branches:
        return "cannot_be_merged", "broken_status"
    if conflicts(project, mr):
        return "cannot_be_merged", "conflict"
    if is_draft(mr):
        return "can_be_merged", "draft_status"
    if needs_rebase(project, mr):
        return "can_be_merged", "need_rebase"
    return "can_be_merged", "mergeable"


# -- open, edit ---------------------------------------------------------------------------


def create(
    state: State,
    project: Project,
    author: User,
    *,
    source_branch: str,
    target_branch: str,
    title: str,
    description: str | None = None,
    labels: Iterable[str] = (),
    assignee_ids: Iterable[int] = (),
    reviewer_ids: Iterable[int] = (),
    remove_source_branch: bool = False,
    squash: bool = False,
) -> MergeRequestChange:
    if access_level(state, project, author) < DEVELOPER and not author.is_admin:
        raise ServiceError(403, "403 Forbidden")
    branches = project.repository.branches
    errors = []
    if source_branch == target_branch:
        errors.append("You must select different branches")
    if source_branch not in branches:
        errors.append(f'Source branch "{source_branch}" does not exist')
    if target_branch not in branches:
        errors.append(f'Target branch "{target_branch}" does not exist')
    if errors:
        raise ServiceError(422, errors)
    _refuse_duplicate(project, source_branch, target_branch, None)
    now = state.now()
    mr = MergeRequest(
        id=state.next_id("merge_request"),
        iid=len(project.merge_requests) + 1,
        project_id=project.id,
        author_id=author.id,
        title=title,
        description=description,
        source_branch=source_branch,
        target_branch=target_branch,
        created_at=now,
        updated_at=now,
        labels=state.labels_named(project, labels),
        assignee_ids=[state.user(uid).id for uid in assignee_ids],
        reviewer_ids=[state.user(uid).id for uid in reviewer_ids],
        force_remove_source_branch=remove_source_branch,
        squash=squash,
    )
    project.merge_requests[mr.iid] = mr
    diff_refs(project, mr)
    inserted: dict[str, Any] = {
        "author_id": author.id,
        "created_at": now,
        "description": description,
        "id": mr.id,
        "iid": mr.iid,
        "merge_status": "unchecked",
        "source_branch": source_branch,
        "source_project_id": project.id,
        "state_id": mr.state_id,
        "target_branch": target_branch,
        "target_project_id": project.id,
        "title": title,
        "updated_at": now,
    }
    changes: dict[str, tuple[Any, Any]] = {
        k: (None, v) for k, v in inserted.items() if v is not None
    }
    return MergeRequestChange(mr, "open", changes)


def _refuse_duplicate(project: Project, source: str, target: str, iid: int | None) -> None:
    for other in project.merge_requests.values():
        if (
            other.iid != iid
            and other.state == "opened"
            and (other.source_branch, other.target_branch) == (source, target)
        ):
            raise ServiceError(
                409,
                [f"Another open merge request already exists for this source branch: !{other.iid}"],
            )


def update(
    state: State,
    mr: MergeRequest,
    actor: User,
    *,
    title: str | None = None,
    description: str | None = None,
    state_event: str | None = None,
    labels: Iterable[str] | None = None,
    add_labels: Iterable[str] = (),
    remove_labels: Iterable[str] = (),
    target_branch: str | None = None,
    assignee_ids: Iterable[int] | None = None,
    reviewer_ids: Iterable[int] | None = None,
    remove_source_branch: bool | None = None,
    squash: bool | None = None,
    discussion_locked: bool | None = None,
) -> MergeRequestChange | None:
    """Apply an edit; None when nothing changed (GitLab then sends no hook)."""
    project = state.projects[mr.project_id]
    if actor.id != mr.author_id and access_level(state, project, actor) < DEVELOPER:
        if not actor.is_admin:
            raise ServiceError(403, "403 Forbidden")
    if target_branch is not None and target_branch != mr.target_branch:
        if not valid_ref_name(target_branch) or target_branch not in project.repository.branches:
            raise ServiceError(422, [f'Target branch "{target_branch}" does not exist'])
        _refuse_duplicate(project, mr.source_branch, target_branch, mr.iid)
    changes: dict[str, tuple[Any, Any]] = {}
    columns: dict[str, Any] = {
        "title": title,
        "description": description,
        "target_branch": target_branch,
        "force_remove_source_branch": remove_source_branch,
        "squash": squash,
        "discussion_locked": discussion_locked,
    }
    for column, value in columns.items():
        if value is not None and getattr(mr, column) != value:
            changes[column] = (getattr(mr, column), value)
    if "title" in changes:
        was, will = (DRAFT.match(title) is not None for title in changes["title"])
        if was != will:
            changes["draft"] = (was, will)  # GitLab adds it to the hook's changes

    new_labels = _labels(state, project, mr.labels, labels, add_labels, remove_labels)
    if [lbl.id for lbl in new_labels] != [lbl.id for lbl in mr.labels]:
        changes["labels"] = (list(mr.labels), new_labels)
    for relation, ids in (("assignees", assignee_ids), ("reviewers", reviewer_ids)):
        if ids is not None:
            wanted = [state.user(uid).id for uid in ids]
            current = mr.assignee_ids if relation == "assignees" else mr.reviewer_ids
            if wanted != current:
                changes[relation] = (list(current), wanted)

    action = "update"
    if state_event == "close" and mr.state == "opened":
        action = "close"
    elif state_event == "reopen" and mr.state == "closed":
        _refuse_duplicate(project, mr.source_branch, target_branch or mr.target_branch, mr.iid)
        action = "reopen"
    if not changes and action == "update":
        return None

    now = state.now()
    if action == "close":
        diff_refs(project, mr)  # keep the diff as it was when closed
        changes["state_id"] = (mr.state_id, 2)
        changes["closed_at"] = (mr.closed_at, now)
        mr.state, mr.closed_at, mr.closed_by_id = "closed", now, actor.id
    elif action == "reopen":
        changes["state_id"] = (mr.state_id, 1)
        mr.state, mr.closed_at, mr.closed_by_id = "opened", None, None
    if "title" in changes or "description" in changes:
        changes["last_edited_at"] = (mr.last_edited_at, now)
        if mr.last_edited_by_id != actor.id:
            changes["last_edited_by_id"] = (mr.last_edited_by_id, actor.id)
        mr.last_edited_at, mr.last_edited_by_id = now, actor.id
    if mr.updated_by_id != actor.id:
        changes["updated_by_id"] = (mr.updated_by_id, actor.id)
    changes["updated_at"] = (mr.updated_at, now)
    mr.updated_by_id, mr.updated_at = actor.id, now

    for column in columns:
        if column in changes:
            setattr(mr, column, changes[column][1])
    mr.labels = new_labels
    if "assignees" in changes:
        mr.assignee_ids = changes["assignees"][1]
    if "reviewers" in changes:
        mr.reviewer_ids = changes["reviewers"][1]
    return MergeRequestChange(mr, action, changes)


def _labels(
    state: State,
    project: Project,
    current: list[Label],
    labels: Iterable[str] | None,
    add: Iterable[str],
    remove: Iterable[str],
) -> list[Label]:
    base = current if labels is None else state.labels_named(project, labels)
    dropped = {name.strip() for name in remove}
    merged = {
        lbl.title: lbl
        for lbl in [*base, *state.labels_named(project, add)]
        if lbl.title not in dropped
    }
    return sorted(merged.values(), key=lambda lbl: lbl.title)


# -- merge ----------------------------------------------------------------------------------


def can_merge(state: State, project: Project, mr: MergeRequest, user: User) -> bool:
    return can_push(state, project, user, mr.target_branch)


def merge(
    state: State,
    mr: MergeRequest,
    actor: User,
    *,
    merge_commit_message: str | None = None,
    should_remove_source_branch: bool | None = None,
    sha: str | None = None,
) -> MergeRequestChange:
    project = state.projects[mr.project_id]
    repo = project.repository
    if not can_merge(state, project, mr, actor):
        raise ServiceError(401, "401 Unauthorized")
    branches = repo.branches
    broken = mr.source_branch not in branches or mr.target_branch not in branches
    if mr.state != "opened" or is_draft(mr) or broken:
        raise ServiceError(405, NOT_ALLOWED)
    if conflicts(project, mr) or needs_rebase(project, mr):
        raise ServiceError(406, "Branch cannot be merged")
    refs = diff_refs(project, mr)
    assert refs.head_sha is not None and refs.start_sha is not None
    if sha and sha != refs.head_sha:
        raise ServiceError(409, f"SHA does not match HEAD of source branch: {refs.head_sha}")

    now = state.now()
    if project.merge_method == "ff":
        branches[mr.target_branch] = refs.head_sha
    else:
        base = repo.commits[refs.base_sha].files if refs.base_sha else {}
        target, source = repo.commits[refs.start_sha], repo.commits[refs.head_sha]
        files, _ = merge_files(base, target.files, source.files)
        merge_commit = repo.write_commit(
            files,
            [target.id, source.id],
            merge_commit_message or default_merge_message(state, project, mr),
            signature(actor, now),
        )
        branches[mr.target_branch] = merge_commit.id
        mr.merge_commit_sha = merge_commit.id

    changes: dict[str, tuple[Any, Any]] = {
        "state_id": (mr.state_id, 3),
        "updated_at": (mr.updated_at, now),
    }
    mr.state, mr.merged_at, mr.merge_user_id, mr.updated_at = "merged", now, actor.id, now
    remove = mr.force_remove_source_branch
    if should_remove_source_branch is not None:
        remove = should_remove_source_branch
    if remove and mr.source_branch != project.default_branch:
        delete_branch(project, mr.source_branch)
    return MergeRequestChange(mr, "merge", changes)


def default_merge_message(state: State, project: Project, mr: MergeRequest) -> str:
    """GitLab's default merge commit template."""
    reference = f"{state.path_with_namespace(project)}!{mr.iid}"
    return (
        f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n"
        f"{mr.title}\n\nSee merge request {reference}"
    )
