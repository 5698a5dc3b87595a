"""Merge request routes (merge_requests.md): list, create, get, edit, `/changes`,
`/diffs`, `/commits` and `/merge`. Opening, editing and merging deliver the
Merge Request Hook, like the UI would.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from tests.fake_gitlab import merge_requests as rules
from tests.fake_gitlab import render_git, render_mr
from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.delivery import Delivery
from tests.fake_gitlab.merge_requests import MergeRequestChange
from tests.fake_gitlab.models import MergeRequest, Project
from tests.fake_gitlab.plumbing import (
    ApiError,
    as_bool,
    as_ids,
    as_labels,
    choice,
    json_response,
    paginated,
    readable_project,
    request_params,
    request_uuid,
    the_fake,
    the_user,
)
from tests.fake_gitlab.state import NotFound

merge_requests_api = Blueprint(
    "merge_requests_api", __name__, url_prefix="/api/v4/projects/<ref>/merge_requests"
)

EDIT_PARAMS = (
    "add_labels",
    "allow_collaboration",
    "allow_maintainer_to_push",
    "assignee_id",
    "assignee_ids",
    "description",
    "discussion_locked",
    "labels",
    "milestone_id",
    "remove_labels",
    "remove_source_branch",
    "reviewer_ids",
    "squash",
    "state_event",
    "target_branch",
    "title",
)


def _merge_request(project: Project, iid: int) -> MergeRequest:
    if iid not in project.merge_requests:
        raise NotFound("404 Not found")
    return project.merge_requests[iid]


def _ids(params: dict[str, Any], *names: str) -> list[int] | None:
    for name in names:
        if name in params:
            return as_ids(params[name] if params[name] is not None else "")
    return None


def _answer(
    project: Project, mr: MergeRequest, change: MergeRequestChange | None
) -> tuple[Json, list[Delivery]]:
    """The MR as the API shows it and the hook deliveries for the change (lock held)."""
    fake = the_fake()
    body = render_mr.merge_request(fake.state, fake.web_url, project, mr, the_user())
    if change is None:
        return body, []
    return body, fake.merge_request_hooks(change, the_user(), request_uuid=request_uuid())


@merge_requests_api.get("")
def list_merge_requests(ref: str) -> Response:
    fake = the_fake()
    state_filter = choice("state", "all", ("opened", "closed", "locked", "merged", "all"))
    order_by = choice("order_by", "created_at", ("created_at", "updated_at", "title", "merged_at"))
    descending = choice("sort", "desc", ("asc", "desc")) == "desc"
    search = request.args.get("search", "").lower()
    wanted = as_labels(request.args.get("labels"))
    iids = set(as_ids(request.args.getlist("iids[]")))
    source, target = request.args.get("source_branch"), request.args.get("target_branch")
    author_id = request.args.get("author_id")
    wip = request.args.get("wip")
    with fake.state.lock:
        project = readable_project(ref)
        found = list(project.merge_requests.values())
        if state_filter != "all":
            found = [m for m in found if m.state == state_filter]
        if source:
            found = [m for m in found if m.source_branch == source]
        if target:
            found = [m for m in found if m.target_branch == target]
        if search:
            found = [
                m
                for m in found
                if search in m.title.lower() or search in (m.description or "").lower()
            ]
        if wanted:
            found = [m for m in found if _has_labels(m, wanted)]
        if iids:
            found = [m for m in found if m.iid in iids]
        if author_id:
            found = [m for m in found if str(m.author_id) == author_id]
        if wip in ("yes", "no"):
            found = [m for m in found if rules.is_draft(m) == (wip == "yes")]
        unmerged = [m for m in found if m.merged_at is None] if order_by == "merged_at" else []
        found = [m for m in found if m not in unmerged]  # merged_at sorts them last
        found.sort(key=lambda m: (getattr(m, order_by), m.id), reverse=descending)
        found += sorted(unmerged, key=lambda m: m.id, reverse=descending)
        items = [render_mr.merge_request_basic(fake.state, fake.web_url, project, m) for m in found]
    return paginated(items)


def _has_labels(mr: MergeRequest, wanted: list[str]) -> bool:
    titles = {label.title for label in mr.labels}
    if wanted == ["None"]:
        return not titles
    if wanted == ["Any"]:
        return bool(titles)
    return set(wanted) <= titles


@merge_requests_api.post("")
def create_merge_request(ref: str) -> Response:
    fake = the_fake()
    params = request_params()
    missing = [n for n in ("source_branch", "target_branch", "title") if not params.get(n)]
    if missing:
        raise ApiError(400, {"error": ", ".join(f"{n} is missing" for n in missing)})
    with fake.state.lock:
        project = readable_project(ref)
        change = rules.create(
            fake.state,
            project,
            the_user(),
            source_branch=str(params["source_branch"]),
            target_branch=str(params["target_branch"]),
            title=str(params["title"]),
            description=params.get("description"),
            labels=as_labels(params.get("labels")) or [],
            assignee_ids=_ids(params, "assignee_ids", "assignee_id") or [],
            reviewer_ids=_ids(params, "reviewer_ids") or [],
            remove_source_branch=as_bool(params.get("remove_source_branch")),
            squash=as_bool(params.get("squash")),
        )
        body, deliveries = _answer(project, change.merge_request, change)
    fake.send(deliveries)
    return json_response(body, 201)


@merge_requests_api.get("/<int:iid>")
def get_merge_request(ref: str, iid: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        body, _ = _answer(project, _merge_request(project, iid), None)
    return json_response(body)


@merge_requests_api.put("/<int:iid>")
def update_merge_request(ref: str, iid: int) -> Response:
    fake = the_fake()
    params = request_params()
    if not any(key in params for key in EDIT_PARAMS):
        missing = ", ".join(EDIT_PARAMS)
        raise ApiError(
            400, {"error": f"{missing} are missing, at least one parameter must be provided"}
        )
    state_event = params.get("state_event")
    if state_event not in (None, "close", "reopen"):
        raise ApiError(400, {"error": "state_event does not have a valid value"})

    def flag(name: str) -> bool | None:
        return as_bool(params[name]) if name in params else None

    with fake.state.lock:
        project = readable_project(ref)
        mr = _merge_request(project, iid)
        change = rules.update(
            fake.state,
            mr,
            the_user(),
            title=params.get("title"),
            description=params.get("description"),
            state_event=state_event,
            labels=as_labels(params.get("labels")),
            add_labels=as_labels(params.get("add_labels")) or [],
            remove_labels=as_labels(params.get("remove_labels")) or [],
            target_branch=params.get("target_branch"),
            assignee_ids=_ids(params, "assignee_ids", "assignee_id"),
            reviewer_ids=_ids(params, "reviewer_ids"),
            remove_source_branch=flag("remove_source_branch"),
            squash=flag("squash"),
            discussion_locked=flag("discussion_locked"),
        )
        body, deliveries = _answer(project, mr, change)
    fake.send(deliveries)
    return json_response(body)


@merge_requests_api.put("/<int:iid>/merge")
def merge_merge_request(ref: str, iid: int) -> Response:
    fake = the_fake()
    params = request_params()
    remove = params.get("should_remove_source_branch")
    with fake.state.lock:
        project = readable_project(ref)
        mr = _merge_request(project, iid)
        change = rules.merge(
            fake.state,
            mr,
            the_user(),
            merge_commit_message=params.get("merge_commit_message") or None,
            should_remove_source_branch=None if remove is None else as_bool(remove),
            sha=params.get("sha") or None,
        )
        body, deliveries = _answer(project, mr, change)
    fake.send(deliveries)
    return json_response(body)


@merge_requests_api.get("/<int:iid>/changes")
def get_changes(ref: str, iid: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        mr = _merge_request(project, iid)
        body = render_mr.merge_request_changes(fake.state, fake.web_url, project, mr, the_user())
    return json_response(body)


@merge_requests_api.get("/<int:iid>/diffs")
def get_diffs(ref: str, iid: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        diffs = [render_git.diff(d) for d in rules.changes(project, _merge_request(project, iid))]
    return paginated(diffs)


@merge_requests_api.get("/<int:iid>/commits")
def get_commits(ref: str, iid: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        commits = rules.commits(project, _merge_request(project, iid))
        found = [render_git.commit(fake.state, fake.web_url, project, c) for c in commits]
    return paginated(found)
