"""The REST API (v4) as a Flask app: auth, request log, failure injection, routes.

Endpoint docs: https://docs.gitlab.com/api/rest/ (pagination headers:
https://docs.gitlab.com/api/rest/#pagination). Error bodies are GitLab's:
`{"message": "404 Project Not Found"}` from `not_found!`, `{"message": "404 Not found"}`
for a missing record, `{"error": "title is missing"}` for a missing parameter.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlencode

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from tests.fake_gitlab import render
from tests.fake_gitlab.aliases import Json, StartResponse, WSGIApp
from tests.fake_gitlab.faults import Fault
from tests.fake_gitlab.features import BadRequest, set_feature
from tests.fake_gitlab.models import Group, Issue, Project, User
from tests.fake_gitlab.state import NotFound

if TYPE_CHECKING:
    from tests.fake_gitlab.fake import FakeGitLab

LOGGED_HEADERS = (
    "PRIVATE-TOKEN",
    "Authorization",
    "X-Gitlab-Event-UUID",
    "User-Agent",
    "Content-Type",
    "Sudo",
)
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


@dataclass
class RecordedRequest:
    """One API request as the fake saw it."""

    method: str
    path: str  # as sent: an encoded project path stays `group%2Fproject`
    query: dict[str, str | list[str]]
    json: Any
    headers: dict[str, str]
    user_id: int | None = None
    status: int | None = None

    @property
    def event_uuid(self) -> str | None:
        """The `X-Gitlab-Event-UUID` a bot sent back (GitLab's recursion detection)."""
        return self.headers.get("X-Gitlab-Event-UUID")


class ApiError(Exception):
    def __init__(self, status: int, body: Json) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


class KeepEncodedSlashes:
    """WSGI servers decode `%2F` in PATH_INFO; GitLab's routes need it kept, so that
    `/projects/group%2Fproject/issues` matches `/projects/<ref>/issues`. Also drops
    empty segments (a trailing or doubled slash), which GitLab's router ignores."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw:
            path = raw.split("?", 1)[0]
            # Empty segments go: python-gitlab asks for `/features/` and `/features//name`.
            segments = [unquote_to_bytes(s).replace(b"/", b"%2F") for s in path.split("/") if s]
            environ["PATH_INFO"] = "/" + b"/".join(segments).decode("latin-1")
        return self.app(environ, start_response)


api = Blueprint("api", __name__, url_prefix="/api/v4")


def create_app(fake: FakeGitLab) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["fake_gitlab"] = fake
    app.wsgi_app = KeepEncodedSlashes(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(_log_and_gate)
    app.after_request(_log_status)
    app.register_error_handler(ApiError, lambda e: _json(e.body, e.status))
    app.register_error_handler(NotFound, lambda e: _json({"message": str(e)}, 404))
    app.register_error_handler(BadRequest, _bad_request)
    app.register_error_handler(HTTPException, _http_error)
    app.register_blueprint(api)
    return app


# -- plumbing ---------------------------------------------------------------------


def _fake() -> FakeGitLab:
    fake: FakeGitLab = current_app.extensions["fake_gitlab"]
    return fake


def _user() -> User:
    user: User = g.user
    return user


def _json(data: Any, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    return response


def _bad_request(exc: BadRequest) -> Response:
    # Grape's parameter errors use "error"; `bad_request!` uses "message".
    key = "message" if str(exc).startswith("400 Bad request") else "error"
    return _json({key: str(exc)}, 400)


def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    return _json({"error": f"{code} {HTTP_STATUS_CODES.get(code, 'Error')}"}, code)


def _log_and_gate() -> Response | None:
    fake = _fake()
    entry = RecordedRequest(
        method=request.method,
        path=request.path,
        query={k: v[0] if len(v) == 1 else v for k, v in request.args.lists()},
        json=request.get_json(silent=True),
        headers={h: request.headers[h] for h in LOGGED_HEADERS if h in request.headers},
    )
    g.entry = entry
    fake.record(entry)
    delay, fault = fake.faults.take(request.method, request.path)
    if delay:
        fake.faults.sleep(delay)
    if fault is not None:
        return _fault_response(fault)
    token = request.headers.get("PRIVATE-TOKEN") or request.args.get("private_token")
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:]
    user = fake.state.user_by_token(token) if token else None
    if user is None or user.state != "active":
        return _json({"message": "401 Unauthorized"}, 401)
    g.user = user
    entry.user_id = user.id
    return None


def _log_status(response: Response) -> Response:
    entry: RecordedRequest | None = g.get("entry")
    if entry is not None:
        entry.status = response.status_code
    return response


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 500
    if status == 429:
        # Rack::Attack's throttle response.
        response = Response("Retry later\n", status=429, content_type="text/plain")
        if fault.retry_after is not None:
            reset = int(time.time()) + fault.retry_after
            response.headers.update(
                {
                    "Retry-After": str(fault.retry_after),
                    "RateLimit-Name": "throttle_authenticated_api",
                    "RateLimit-Limit": "60",
                    "RateLimit-Observed": "61",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(reset),
                    "RateLimit-ResetTime": formatdate(reset, usegmt=True),
                }
            )
        return response
    response = _json({"message": f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}"}, status)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _params() -> dict[str, Any]:
    """Grape merges query string and body parameters."""
    merged: dict[str, Any] = request.args.to_dict()
    for key in request.args:
        if key.endswith("[]"):
            merged[key[:-2]] = request.args.getlist(key)
    body = request.get_json(silent=True)
    merged |= body if isinstance(body, dict) else request.form.to_dict()
    return merged


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, {"error": f"{name} is invalid"}) from None


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes", "t")


def _labels(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _ids(value: Any) -> list[int]:
    items = value if isinstance(value, list) else str(value).split(",")
    return [int(item) for item in items if str(item).strip() not in ("", "0")]


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, default)
    if value not in allowed:
        raise ApiError(400, {"error": f"{name} does not have a valid value"})
    return value


def _paginated(items: list[Json]) -> Response:
    """Offset pagination with GitLab's headers, which python-gitlab follows via `Link`."""
    page = max(_int_arg("page", 1), 1)
    per_page = min(max(_int_arg("per_page", 20), 1), 100)
    total = len(items)
    pages = max(math.ceil(total / per_page), 1)
    response = _json(items[(page - 1) * per_page : page * per_page])
    base = f"{request.host_url.rstrip('/')}{request.path}"

    def link(number: int) -> str:
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
        return f"{base}?{urlencode([*query, ('page', number)])}"

    links = []
    if page < pages:
        links.append(f'<{link(page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    links += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
    response.headers.update(
        {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
    )
    return response


def _project(ref: str) -> Project:
    state = _fake().state
    project = state.project(ref)
    if not state.can_read(project, _user()):
        raise NotFound("404 Project Not Found")
    return project


def _issue(ref: str, iid: int) -> Issue:
    return _fake().state.issue(_project(ref), iid)


def _require_admin() -> None:
    if not _user().is_admin:
        raise ApiError(403, {"message": "403 Forbidden"})


# -- users, groups, namespaces, projects, members ---------------------------------------


@api.get("/version")
def version() -> Response:
    return _json({"version": _fake().version, "revision": "fake0000", "enterprise": False})


@api.get("/user")
def current_user() -> Response:
    return _json(render.user_detail(_fake().web_url, _user(), is_self=True))


@api.get("/users")
def list_users() -> Response:
    fake = _fake()
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
    return _paginated(found)


@api.get("/users/<int:user_id>")
def get_user(user_id: int) -> Response:
    fake = _fake()
    return _json(render.user_detail(fake.web_url, fake.state.user(user_id)))


@api.get("/groups/<ref>")
def get_group(ref: str) -> Response:
    fake = _fake()
    with fake.state.lock:
        return _json(render.group(fake.state, fake.web_url, fake.state.group(ref)))


@api.get("/namespaces/<ref>")
def get_namespace(ref: str) -> Response:
    fake = _fake()
    with fake.state.lock:
        return _json(render.namespace(fake.state, fake.web_url, fake.state.namespace(ref)))


@api.get("/projects/<ref>")
def get_project(ref: str) -> Response:
    fake = _fake()
    with fake.state.lock:
        return _json(render.project(fake.state, fake.web_url, _project(ref)))


def _source(kind: str, ref: str) -> Project | Group:
    return _project(ref) if kind == "projects" else _fake().state.group(ref)


@api.get("/<any(projects, groups):kind>/<ref>/members/all")
def list_all_members(kind: str, ref: str) -> Response:
    fake = _fake()
    query = request.args.get("query", "").lower()
    user_ids = set(_ids(request.args.get("user_ids", "")))
    with fake.state.lock:
        found = []
        for member in fake.state.all_members(_source(kind, ref)):
            user = fake.state.users[member.user_id]
            if query and query not in user.username.lower() and query not in user.name.lower():
                continue
            if user_ids and user.id not in user_ids:
                continue
            found.append(render.member(fake.state, fake.web_url, user, member))
    return _paginated(found)


@api.get("/<any(projects, groups):kind>/<ref>/members/all/<int:user_id>")
def get_any_member(kind: str, ref: str, user_id: int) -> Response:
    fake = _fake()
    with fake.state.lock:
        source = _source(kind, ref)
        user = fake.state.users.get(user_id)
        member = fake.state.effective_member(source, user) if user else None
        if user is None or member is None:
            raise NotFound("404 Not found")
        return _json(render.member(fake.state, fake.web_url, user, member))


# -- issues ----------------------------------------------------------------------------


@api.get("/projects/<ref>/issues")
def list_issues(ref: str) -> Response:
    fake = _fake()
    state_filter = _choice("state", "all", ("opened", "closed", "all"))
    order_by = _choice("order_by", "created_at", ("created_at", "updated_at", "title"))
    descending = _choice("sort", "desc", ("asc", "desc")) == "desc"
    search = request.args.get("search", "").lower()
    wanted = _labels(request.args.get("labels"))
    iids = set(_ids(request.args.getlist("iids[]")))
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
    return _paginated(found)


def _has_labels(issue: Issue, wanted: list[str]) -> bool:
    titles = {label.title for label in issue.labels}
    if wanted == ["None"]:
        return not titles
    if wanted == ["Any"]:
        return bool(titles)
    return set(wanted) <= titles


@api.post("/projects/<ref>/issues")
def create_issue(ref: str) -> Response:
    fake = _fake()
    params = _params()
    if "title" not in params:
        raise ApiError(400, {"error": "title is missing"})
    if not str(params["title"]).strip():
        raise ApiError(400, {"message": {"title": ["can't be blank"]}})
    assignees = _ids(params.get("assignee_ids", params.get("assignee_id", "")))
    with fake.state.lock:
        change = fake.state.create_issue(
            _project(ref),
            _user(),
            title=str(params["title"]),
            description=params.get("description"),
            labels=_labels(params.get("labels")) or [],
            assignee_ids=assignees,
            confidential=_bool(params.get("confidential", False)),
        )
        body = render.issue(fake.state, fake.web_url, change.issue)
        deliveries = fake.issue_hooks(change, _user(), request_uuid=_request_uuid())
    fake.send(deliveries)
    return _json(body, 201)


@api.get("/projects/<ref>/issues/<int:iid>")
def get_issue(ref: str, iid: int) -> Response:
    fake = _fake()
    with fake.state.lock:
        return _json(render.issue(fake.state, fake.web_url, _issue(ref, iid)))


@api.put("/projects/<ref>/issues/<int:iid>")
def update_issue(ref: str, iid: int) -> Response:
    fake = _fake()
    params = _params()
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
            _user(),
            title=params.get("title"),
            description=params.get("description"),
            state_event=state_event,
            labels=_labels(params.get("labels")),
            add_labels=_labels(params.get("add_labels")) or [],
            remove_labels=_labels(params.get("remove_labels")) or [],
            assignee_ids=None if assignees is None else _ids(assignees),
            confidential=_bool(params["confidential"]) if "confidential" in params else None,
            discussion_locked=(
                _bool(params["discussion_locked"]) if "discussion_locked" in params else None
            ),
        )
        body = render.issue(fake.state, fake.web_url, issue)
        deliveries = (
            fake.issue_hooks(change, _user(), request_uuid=_request_uuid()) if change else []
        )
    fake.send(deliveries)
    return _json(body)


def _request_uuid() -> str | None:
    return request.headers.get("X-Gitlab-Event-UUID") or None


# -- notes -------------------------------------------------------------------------------


@api.get("/projects/<ref>/issues/<int:iid>/notes")
def list_notes(ref: str, iid: int) -> Response:
    fake = _fake()
    order_by = _choice("order_by", "created_at", ("created_at", "updated_at"))
    descending = _choice("sort", "desc", ("asc", "desc")) == "desc"
    with fake.state.lock:
        notes = sorted(
            _issue(ref, iid).notes,
            key=lambda n: (getattr(n, order_by), n.id),
            reverse=descending,
        )
        found = [render.note(fake.state, fake.web_url, n) for n in notes]
    return _paginated(found)


@api.post("/projects/<ref>/issues/<int:iid>/notes")
def create_note(ref: str, iid: int) -> Response:
    fake = _fake()
    params = _params()
    if not params.get("body"):
        raise ApiError(400, {"error": "body is missing"})
    with fake.state.lock:
        note = fake.state.create_note(
            _issue(ref, iid), _user(), str(params["body"]), internal=_bool(params.get("internal"))
        )
        body = render.note(fake.state, fake.web_url, note)
        deliveries = fake.note_hooks(note, _user(), "create", request_uuid=_request_uuid())
    fake.send(deliveries)
    return _json(body, 201)


@api.get("/projects/<ref>/issues/<int:iid>/notes/<int:note_id>")
def get_note(ref: str, iid: int, note_id: int) -> Response:
    fake = _fake()
    with fake.state.lock:
        note = fake.state.note(_issue(ref, iid), note_id)
        return _json(render.note(fake.state, fake.web_url, note))


@api.put("/projects/<ref>/issues/<int:iid>/notes/<int:note_id>")
def update_note(ref: str, iid: int, note_id: int) -> Response:
    fake = _fake()
    params = _params()
    if not params.get("body"):
        raise ApiError(400, {"error": "body is missing"})
    user = _user()
    with fake.state.lock:
        note = fake.state.note(_issue(ref, iid), note_id)
        if note.author_id != user.id and not user.is_admin:
            raise ApiError(403, {"message": "403 Forbidden"})
        changed = fake.state.update_note(note, user, str(params["body"]))
        body = render.note(fake.state, fake.web_url, note)
        uuid = _request_uuid()
        deliveries = fake.note_hooks(note, user, "update", request_uuid=uuid) if changed else []
    fake.send(deliveries)
    return _json(body)


# -- features (administrators only) ---------------------------------------------------------


@api.get("/features")
def list_features() -> Response:
    _require_admin()
    state = _fake().state
    with state.lock:
        return _json(
            [
                render.feature(f, state.feature_definitions.get(f.name))
                for f in sorted(state.features.values(), key=lambda f: f.name)
            ]
        )


@api.get("/features/definitions")
def list_feature_definitions() -> Response:
    _require_admin()
    state = _fake().state
    with state.lock:
        definitions = sorted(state.feature_definitions.values(), key=lambda d: d.name)
        return _json([render.feature_definition(d) for d in definitions])


@api.post("/features/<name>")
def set_feature_gate(name: str) -> Response:
    _require_admin()
    state = _fake().state
    with state.lock:
        feature = set_feature(state, name, _params())
        return _json(render.feature(feature, state.feature_definitions.get(name)), 201)


@api.delete("/features/<name>")
def delete_feature(name: str) -> Response:
    _require_admin()
    state = _fake().state
    with state.lock:
        state.features.pop(name, None)
    return Response(status=204)
