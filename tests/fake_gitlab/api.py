"""The REST API (v4) as a Flask app: the routes.

Endpoint docs: https://docs.gitlab.com/api/rest/. Error bodies are GitLab's:
`{"message": "404 Project Not Found"}` from `not_found!`, `{"message": "404 Not found"}`
for a missing record, `{"error": "title is missing"}` for a missing parameter.
Request plumbing (log, faults, auth, pagination) is in `plumbing`; the repository,
merge request and deployment routes are blueprints of their own (`api_repository`,
`api_merge_requests`, `api_deployments`), registered here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from tests.fake_gitlab import render
from tests.fake_gitlab.api_archive import archive_api
from tests.fake_gitlab.api_deployments import deployments_api
from tests.fake_gitlab.api_merge_requests import merge_requests_api
from tests.fake_gitlab.api_repository import repository_api
from tests.fake_gitlab.features import BadRequest, set_feature
from tests.fake_gitlab.models import Group, Issue, Project
from tests.fake_gitlab.plumbing import (
    ApiError,
    KeepEncodedSlashes,
    as_bool,
    as_ids,
    as_labels,
    bad_request,
    choice,
    http_error,
    json_response,
    log_and_gate,
    log_status,
    paginated,
    readable_project,
    request_params,
    request_uuid,
    the_fake,
    the_user,
)
from tests.fake_gitlab.repo_services import ServiceError
from tests.fake_gitlab.state import NotFound

if TYPE_CHECKING:
    from tests.fake_gitlab.fake import FakeGitLab

ISSUE_EDIT_PARAMS = (
    "add_labels",
    "assignee_id",
    "assignee_ids",
    "confidential",
    "description",
    "discussion_locked",
    "labels",
    "remove_labels",
    "state_event",
    "title",
)


api = Blueprint("api", __name__, url_prefix="/api/v4")


def create_app(fake: FakeGitLab) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["fake_gitlab"] = fake
    app.wsgi_app = KeepEncodedSlashes(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(log_and_gate)
    app.after_request(log_status)
    app.register_error_handler(ApiError, lambda e: json_response(e.body, e.status))
    app.register_error_handler(NotFound, lambda e: json_response({"message": str(e)}, 404))
    app.register_error_handler(BadRequest, bad_request)
    app.register_error_handler(ServiceError, lambda e: json_response(e.body, e.status))
    app.register_error_handler(HTTPException, http_error)
    app.register_blueprint(api)
    app.register_blueprint(repository_api)
    app.register_blueprint(archive_api)
    app.register_blueprint(merge_requests_api)
    app.register_blueprint(deployments_api)
    return app


# -- lookups ------------------------------------------------------------------------


def _project(ref: str) -> Project:
    return readable_project(ref)


def _issue(ref: str, iid: int) -> Issue:
    return the_fake().state.issue(_project(ref), iid)


def _require_admin() -> None:
    if not the_user().is_admin:
        raise ApiError(403, {"message": "403 Forbidden"})


# -- users, groups, namespaces, projects, members ---------------------------------------


@api.get("/version")
def version() -> Response:
    return json_response(
        {"version": the_fake().version, "revision": "fake0000", "enterprise": False}
    )


@api.get("/user")
def get_current_user() -> Response:
    return json_response(render.user_detail(the_fake().web_url, the_user(), is_self=True))


@api.get("/users")
def list_users() -> Response:
    fake = the_fake()
    username = request.args.get("username", "").lower()
    search = request.args.get("search", "").lower()
    with fake.state.lock:
        users = sorted(fake.state.users.values(), key=lambda u: -u.id)
        found = [
            render.user_basic(fake.web_url, u)
            for u in users
            if (not username or u.username.lower() == username)
            and (not search or search in u.username.lower() or search in u.name.lower())
        ]
    return paginated(found)


@api.get("/users/<int:user_id>")
def get_user(user_id: int) -> Response:
    fake = the_fake()
    return json_response(render.user_detail(fake.web_url, fake.state.user(user_id)))


@api.get("/groups/<ref>")
def get_group(ref: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        return json_response(render.group(fake.state, fake.web_url, fake.state.group(ref)))


@api.get("/namespaces/<ref>")
def get_namespace(ref: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        return json_response(render.namespace(fake.state, fake.web_url, fake.state.namespace(ref)))


@api.get("/projects/<ref>")
def get_project(ref: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        return json_response(render.project(fake.state, fake.web_url, _project(ref)))


def _source(kind: str, ref: str) -> Project | Group:
    return _project(ref) if kind == "projects" else the_fake().state.group(ref)


@api.get("/<any(projects, groups):kind>/<ref>/members/all")
def list_all_members(kind: str, ref: str) -> Response:
    fake = the_fake()
    query = request.args.get("query", "").lower()
    user_ids = set(as_ids(request.args.get("user_ids", "")))
    with fake.state.lock:
        found = []
        for member in fake.state.all_members(_source(kind, ref)):
            user = fake.state.users[member.user_id]
            if query and query not in user.username.lower() and query not in user.name.lower():
                continue
            if user_ids and user.id not in user_ids:
                continue
            found.append(render.member(fake.state, fake.web_url, user, member))
    return paginated(found)


@api.get("/<any(projects, groups):kind>/<ref>/members/all/<int:user_id>")
def get_any_member(kind: str, ref: str, user_id: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        source = _source(kind, ref)
        user = fake.state.users.get(user_id)
        member = fake.state.effective_member(source, user) if user else None
        if user is None or member is None:
            raise NotFound("404 Not found")
        return json_response(render.member(fake.state, fake.web_url, user, member))


# -- issues ----------------------------------------------------------------------------


@api.get("/projects/<ref>/issues")
def list_issues(ref: str) -> Response:
    fake = the_fake()
    state_filter = choice("state", "all", ("opened", "closed", "all"))
    order_by = choice("order_by", "created_at", ("created_at", "updated_at", "title"))
    descending = choice("sort", "desc", ("asc", "desc")) == "desc"
    search = request.args.get("search", "").lower()
    wanted = as_labels(request.args.get("labels"))
    iids = set(as_ids(request.args.getlist("iids[]")))
    with fake.state.lock:
        issues = list(_project(ref).issues.values())
        if state_filter != "all":
            issues = [i for i in issues if i.state == state_filter]
        if search:
            issues = [
                i
                for i in issues
                if search in i.title.lower() or search in (i.description or "").lower()
            ]
        if iids:
            issues = [i for i in issues if i.iid in iids]
        if wanted:
            issues = [i for i in issues if _has_labels(i, wanted)]
        issues.sort(key=lambda i: (getattr(i, order_by), i.id), reverse=descending)
        found = [render.issue(fake.state, fake.web_url, i) for i in issues]
    return paginated(found)


def _has_labels(issue: Issue, wanted: list[str]) -> bool:
    titles = {label.title for label in issue.labels}
    if wanted == ["None"]:
        return not titles
    if wanted == ["Any"]:
        return bool(titles)
    return set(wanted) <= titles


@api.post("/projects/<ref>/issues")
def create_issue(ref: str) -> Response:
    fake = the_fake()
    params = request_params()
    if "title" not in params:
        raise ApiError(400, {"error": "title is missing"})
    if not str(params["title"]).strip():
        raise ApiError(400, {"message": {"title": ["can't be blank"]}})
    assignees = as_ids(params.get("assignee_ids", params.get("assignee_id", "")))
    with fake.state.lock:
        change = fake.state.create_issue(
            _project(ref),
            the_user(),
            title=str(params["title"]),
            description=params.get("description"),
            labels=as_labels(params.get("labels")) or [],
            assignee_ids=assignees,
            confidential=as_bool(params.get("confidential", False)),
        )
        body = render.issue(fake.state, fake.web_url, change.issue)
        deliveries = fake.issue_hooks(change, the_user(), request_uuid=request_uuid())
    fake.send(deliveries)
    return json_response(body, 201)


@api.get("/projects/<ref>/issues/<int:iid>")
def get_issue(ref: str, iid: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        return json_response(render.issue(fake.state, fake.web_url, _issue(ref, iid)))


@api.put("/projects/<ref>/issues/<int:iid>")
def update_issue(ref: str, iid: int) -> Response:
    fake = the_fake()
    params = request_params()
    if not any(key in params for key in ISSUE_EDIT_PARAMS):
        missing = ", ".join(ISSUE_EDIT_PARAMS)
        raise ApiError(
            400, {"error": f"{missing} are missing, at least one parameter must be provided"}
        )
    state_event = params.get("state_event")
    if state_event not in (None, "close", "reopen"):
        raise ApiError(400, {"error": "state_event does not have a valid value"})
    assignees = params.get("assignee_ids", params.get("assignee_id"))
    with fake.state.lock:
        issue = _issue(ref, iid)
        change = fake.state.update_issue(
            issue,
            the_user(),
            title=params.get("title"),
            description=params.get("description"),
            state_event=state_event,
            labels=as_labels(params.get("labels")),
            add_labels=as_labels(params.get("add_labels")) or [],
            remove_labels=as_labels(params.get("remove_labels")) or [],
            assignee_ids=None if assignees is None else as_ids(assignees),
            confidential=as_bool(params["confidential"]) if "confidential" in params else None,
            discussion_locked=(
                as_bool(params["discussion_locked"]) if "discussion_locked" in params else None
            ),
        )
        body = render.issue(fake.state, fake.web_url, issue)
        deliveries = (
            fake.issue_hooks(change, the_user(), request_uuid=request_uuid()) if change else []
        )
    fake.send(deliveries)
    return json_response(body)


# -- notes -------------------------------------------------------------------------------


@api.get("/projects/<ref>/issues/<int:iid>/notes")
def list_notes(ref: str, iid: int) -> Response:
    fake = the_fake()
    order_by = choice("order_by", "created_at", ("created_at", "updated_at"))
    descending = choice("sort", "desc", ("asc", "desc")) == "desc"
    with fake.state.lock:
        notes = sorted(
            _issue(ref, iid).notes,
            key=lambda n: (getattr(n, order_by), n.id),
            reverse=descending,
        )
        found = [render.note(fake.state, fake.web_url, n) for n in notes]
    return paginated(found)


@api.post("/projects/<ref>/issues/<int:iid>/notes")
def create_note(ref: str, iid: int) -> Response:
    fake = the_fake()
    params = request_params()
    if not params.get("body"):
        raise ApiError(400, {"error": "body is missing"})
    with fake.state.lock:
        note = fake.state.create_note(
            _issue(ref, iid),
            the_user(),
            str(params["body"]),
            internal=as_bool(params.get("internal")),
        )
        body = render.note(fake.state, fake.web_url, note)
        deliveries = fake.note_hooks(note, the_user(), "create", request_uuid=request_uuid())
    fake.send(deliveries)
    return json_response(body, 201)


@api.get("/projects/<ref>/issues/<int:iid>/notes/<int:note_id>")
def get_note(ref: str, iid: int, note_id: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        note = fake.state.note(_issue(ref, iid), note_id)
        return json_response(render.note(fake.state, fake.web_url, note))


@api.put("/projects/<ref>/issues/<int:iid>/notes/<int:note_id>")
def update_note(ref: str, iid: int, note_id: int) -> Response:
    fake = the_fake()
    params = request_params()
    if not params.get("body"):
        raise ApiError(400, {"error": "body is missing"})
    user = the_user()
    with fake.state.lock:
        note = fake.state.note(_issue(ref, iid), note_id)
        if note.author_id != user.id and not user.is_admin:
            raise ApiError(403, {"message": "403 Forbidden"})
        changed = fake.state.update_note(note, user, str(params["body"]))
        body = render.note(fake.state, fake.web_url, note)
        uuid = request_uuid()
        deliveries = fake.note_hooks(note, user, "update", request_uuid=uuid) if changed else []
    fake.send(deliveries)
    return json_response(body)


# -- features (administrators only) ---------------------------------------------------------


@api.get("/features")
def list_features() -> Response:
    _require_admin()
    state = the_fake().state
    with state.lock:
        return json_response(
            [
                render.feature(f, state.feature_definitions.get(f.name))
                for f in sorted(state.features.values(), key=lambda f: f.name)
            ]
        )


@api.get("/features/definitions")
def list_feature_definitions() -> Response:
    _require_admin()
    state = the_fake().state
    with state.lock:
        definitions = sorted(state.feature_definitions.values(), key=lambda d: d.name)
        return json_response([render.feature_definition(d) for d in definitions])


@api.post("/features/<name>")
def set_feature_gate(name: str) -> Response:
    _require_admin()
    state = the_fake().state
    with state.lock:
        feature = set_feature(state, name, request_params())
        return json_response(render.feature(feature, state.feature_definitions.get(name)), 201)


@api.delete("/features/<name>")
def delete_feature(name: str) -> Response:
    _require_admin()
    state = the_fake().state
    with state.lock:
        state.features.pop(name, None)
    return Response(status=204)
