"""Request-level behaviour every route shares: the request log, failure injection,
authentication, parameter parsing, pagination, and GitLab's error bodies.

Pagination: https://docs.gitlab.com/api/rest/#pagination (python-gitlab follows `Link`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlencode

from flask import Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from tests.fake_gitlab.aliases import Json, StartResponse, WSGIApp
from tests.fake_gitlab.faults import Fault
from tests.fake_gitlab.features import BadRequest
from tests.fake_gitlab.models import Project, User
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
    at: float = field(default_factory=time.monotonic)  # when the fake received it

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


# -- helpers for routes ---------------------------------------------------------------------


def the_fake() -> FakeGitLab:
    fake: FakeGitLab = current_app.extensions["fake_gitlab"]
    return fake


def the_user() -> User:
    user: User = g.user
    return user


def readable_project(ref: str) -> Project:
    """The project named in the URL, or GitLab's 404 when the user may not see it."""
    state = the_fake().state
    project = state.project(ref)
    if not state.can_read(project, the_user()):
        raise NotFound("404 Project Not Found")
    return project


def json_response(data: Any, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    return response


def bad_request(exc: BadRequest) -> Response:
    # Grape's parameter errors use "error"; `bad_request!` uses "message".
    key = "message" if str(exc).startswith("400 Bad request") else "error"
    return json_response({key: str(exc)}, 400)


def http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    return json_response({"error": f"{code} {HTTP_STATUS_CODES.get(code, 'Error')}"}, code)


def log_and_gate() -> Response | None:
    fake = the_fake()
    entry = RecordedRequest(
        method=request.method,
        path=request.path,
        query={k: v[0] if len(v) == 1 else v for k, v in request.args.lists()},
        json=request.get_json(silent=True),
        headers={h: request.headers[h] for h in LOGGED_HEADERS if h in request.headers},
    )
    g.entry = entry
    fake.record(entry)
    delay, fault, late = fake.faults.take(request.method, request.path)
    g.late = late
    if delay:
        fake.faults.sleep(delay)
    if fault is not None:
        return fault_response(fault)
    token = request.headers.get("PRIVATE-TOKEN") or request.args.get("private_token")
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:]
    user = fake.state.user_by_token(token) if token else None
    if user is None or user.state != "active":
        return json_response({"message": "401 Unauthorized"}, 401)
    g.user = user
    entry.user_id = user.id
    return None


def log_status(response: Response) -> Response:
    entry: RecordedRequest | None = g.get("entry")
    if entry is not None:
        entry.status = response.status_code
    late: float = g.get("late", 0.0)
    if late:
        the_fake().faults.sleep(late)  # handled already: only the answer is held
    return response


def fault_response(fault: Fault) -> Response:
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
    response = json_response(
        {"message": f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}"}, status
    )
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def request_params() -> dict[str, Any]:
    """Grape merges query string and body parameters."""
    merged: dict[str, Any] = request.args.to_dict()
    for key in request.args:
        if key.endswith("[]"):
            merged[key[:-2]] = request.args.getlist(key)
    body = request.get_json(silent=True)
    merged |= body if isinstance(body, dict) else request.form.to_dict()
    return merged


def int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, {"error": f"{name} is invalid"}) from None


def as_bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes", "t")


def as_labels(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def as_ids(value: Any) -> list[int]:
    items = value if isinstance(value, list) else str(value).split(",")
    return [int(item) for item in items if str(item).strip() not in ("", "0")]


def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, default)
    if value not in allowed:
        raise ApiError(400, {"error": f"{name} does not have a valid value"})
    return value


def paginated(items: list[Json], *, totals: bool = True) -> Response:
    """Offset pagination with GitLab's headers, which python-gitlab follows via `Link`.
    Without `totals`, no `X-Total`/`X-Total-Pages` and no `last` link (the Commits API)."""
    page = max(int_arg("page", 1), 1)
    per_page = min(max(int_arg("per_page", 20), 1), 100)
    total = len(items)
    pages = max(math.ceil(total / per_page), 1)
    response = json_response(items[(page - 1) * per_page : page * per_page])
    base = f"{request.host_url.rstrip('/')}{request.path}"

    def link(number: int) -> str:
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
        return f"{base}?{urlencode([*query, ('page', number)])}"

    links = []
    if page < pages:
        links.append(f'<{link(page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    links.append(f'<{link(1)}>; rel="first"')
    if totals:
        links.append(f'<{link(pages)}>; rel="last"')
    response.headers.update(
        {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
    )
    if totals:
        response.headers.update({"X-Total": str(total), "X-Total-Pages": str(pages)})
    return response


def request_uuid() -> str | None:
    return request.headers.get("X-Gitlab-Event-UUID") or None
