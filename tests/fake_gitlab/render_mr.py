"""REST API (v4) representations of merge requests (merge_requests.md): the list item
(Entities::MergeRequestBasic), the single one (Entities::MergeRequest), `/changes`.
Call with the state lock held.
"""

from __future__ import annotations

from tests.fake_gitlab import merge_requests as rules
from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.models import MergeRequest, Project, User
from tests.fake_gitlab.render import api_time, user_basic
from tests.fake_gitlab.render_git import diff, project_url
from tests.fake_gitlab.state import State


def merge_request_basic(state: State, base: str, project: Project, mr: MergeRequest) -> Json:
    path = state.path_with_namespace(project)
    refs = rules.diff_refs(project, mr)
    merge_status, detailed = rules.merge_status(project, mr)
    assignees = [user_basic(base, state.users[uid]) for uid in mr.assignee_ids]
    merge_user = user_basic(base, state.users[mr.merge_user_id]) if mr.merge_user_id else None
    closed_by = user_basic(base, state.users[mr.closed_by_id]) if mr.closed_by_id else None
    draft = rules.is_draft(mr)
    return {
        "id": mr.id,
        "iid": mr.iid,
        "project_id": project.id,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state,
        "created_at": api_time(mr.created_at),
        "updated_at": api_time(mr.updated_at),
        "merged_by": merge_user,  # deprecated: merge_user
        "merge_user": merge_user,
        "merged_at": api_time(mr.merged_at),
        "merge_after": None,
        "prepared_at": api_time(mr.created_at),
        "closed_by": closed_by,
        "closed_at": api_time(mr.closed_at),
        "target_branch": mr.target_branch,
        "source_branch": mr.source_branch,
        "user_notes_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "author": user_basic(base, state.users[mr.author_id]),
        "assignees": assignees,
        "assignee": assignees[0] if assignees else None,
        "reviewers": [user_basic(base, state.users[uid]) for uid in mr.reviewer_ids],
        "source_project_id": project.id,
        "target_project_id": project.id,
        "labels": [label.title for label in mr.labels],
        "draft": draft,
        "imported": False,
        "imported_from": "none",
        "work_in_progress": draft,
        "milestone": None,
        "merge_when_pipeline_succeeds": False,
        "merge_status": merge_status,
        "detailed_merge_status": detailed,
        "sha": refs.head_sha,
        "merge_commit_sha": mr.merge_commit_sha,
        "squash_commit_sha": mr.squash_commit_sha,
        "discussion_locked": mr.discussion_locked,
        "should_remove_source_branch": None,
        "force_remove_source_branch": mr.force_remove_source_branch,
        "allow_collaboration": False,
        "allow_maintainer_to_push": False,
        "reference": f"!{mr.iid}",
        "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}", "full": f"{path}!{mr.iid}"},
        "web_url": f"{project_url(state, base, project)}/-/merge_requests/{mr.iid}",
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        },
        "squash": mr.squash,
        "squash_on_merge": mr.squash,
        "task_completion_status": {"count": 0, "completed_count": 0},
        "has_conflicts": merge_status == "cannot_be_merged" and detailed == "conflict",
        "blocking_discussions_resolved": True,
    }


def merge_request(state: State, base: str, project: Project, mr: MergeRequest, user: User) -> Json:
    """`GET /projects/:id/merge_requests/:iid` (and what create, edit and merge answer)."""
    refs = rules.diff_refs(project, mr)
    merged_before = any(
        other.author_id == mr.author_id and other.state == "merged" and other.iid < mr.iid
        for other in project.merge_requests.values()
    )
    is_member = state.effective_member(project, state.users[mr.author_id]) is not None
    return merge_request_basic(state, base, project, mr) | {
        "subscribed": user.id == mr.author_id,
        "changes_count": str(len(rules.changes(project, mr))),
        "latest_build_started_at": None,
        "latest_build_finished_at": None,
        "first_deployed_to_production_at": None,
        "pipeline": None,
        "head_pipeline": None,
        "diff_refs": {
            "base_sha": refs.base_sha,
            "head_sha": refs.head_sha,
            "start_sha": refs.start_sha,
        },
        "merge_error": None,
        "first_contribution": not merged_before and not is_member,
        "user": {"can_merge": rules.can_merge(state, project, mr, user)},
        "approvals_before_merge": None,
    }


def merge_request_changes(
    state: State, base: str, project: Project, mr: MergeRequest, user: User
) -> Json:
    """`GET .../merge_requests/:iid/changes`: the MR and its diffs."""
    diffs = [diff(d) for d in rules.changes(project, mr)]
    return merge_request(state, base, project, mr, user) | {"changes": diffs, "overflow": False}
