"""Deployment and environment routes (deployments.md, environments.md).

Lists sort like PostgreSQL does: a null `finished_at` comes last in ascending
order and first in descending order; ties are broken by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from tests.fake_gitlab import deployments as rules
from tests.fake_gitlab import render_deploy
from tests.fake_gitlab.models import DEVELOPER, Deployment, Project
from tests.fake_gitlab.plumbing import (
    ApiError,
    as_bool,
    choice,
    json_response,
    paginated,
    readable_project,
    request_params,
    the_fake,
    the_user,
)
from tests.fake_gitlab.repo_services import access_level
from tests.fake_gitlab.state import NotFound

deployments_api = Blueprint("deployments_api", __name__, url_prefix="/api/v4/projects/<ref>")

ORDER_BY = ("id", "iid", "created_at", "updated_at", "finished_at", "ref")


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, {"error": f"{name} is invalid"}) from None


def _deployment(project: Project, deployment_id: int) -> Deployment:
    found = next((d for d in project.deployments.values() if d.id == deployment_id), None)
    if found is None:
        raise NotFound("404 Not found")
    return found


def _require_developer(project: Project) -> None:
    user = the_user()
    if access_level(the_fake().state, project, user) < DEVELOPER and not user.is_admin:
        raise ApiError(403, {"message": "403 Forbidden"})


@deployments_api.get("/deployments")
def list_deployments(ref: str) -> Response:
    fake = the_fake()
    order_by = choice("order_by", "id", ORDER_BY)
    descending = choice("sort", "asc", ("asc", "desc")) == "desc"
    status = request.args.get("status")
    if status and status not in rules.STATUSES:
        raise ApiError(400, {"error": "status does not have a valid value"})
    environment = request.args.get("environment")
    bounds = {name: _time_arg(name) for name in ("updated_after", "updated_before")}
    bounds |= {name: _time_arg(name) for name in ("finished_after", "finished_before")}
    with fake.state.lock:
        project = readable_project(ref)
        found = list(project.deployments.values())
        if environment:
            env = project.environments.get(environment)
            found = [d for d in found if env is not None and d.environment_id == env.id]
        if status:
            found = [d for d in found if d.status == status]
        found = [d for d in found if _within(d, bounds)]

        def key(d: Deployment) -> tuple[Any, ...]:
            value = getattr(d, order_by)
            return (value is None, value if value is not None else 0, d.id)

        found.sort(key=key, reverse=descending)
        items = [render_deploy.deployment(fake.state, fake.web_url, project, d) for d in found]
    return paginated(items)


def _within(d: Deployment, bounds: dict[str, datetime | None]) -> bool:
    checks = (
        ("updated_after", d.updated_at, 1),
        ("updated_before", d.updated_at, -1),
        ("finished_after", d.finished_at, 1),
        ("finished_before", d.finished_at, -1),
    )
    for name, value, direction in checks:
        bound = bounds[name]
        if bound is None:
            continue
        if value is None or (value < bound if direction > 0 else value > bound):
            return False
    return True


@deployments_api.get("/deployments/<int:deployment_id>")
def get_deployment(ref: str, deployment_id: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        dep = _deployment(project, deployment_id)
        return json_response(render_deploy.deployment(fake.state, fake.web_url, project, dep))


@deployments_api.post("/deployments")
def create_deployment(ref: str) -> Response:
    fake = the_fake()
    params = request_params()
    missing = [n for n in ("environment", "sha", "ref", "tag", "status") if params.get(n) is None]
    if missing:
        raise ApiError(400, {"error": ", ".join(f"{n} is missing" for n in missing)})
    with fake.state.lock:
        project = readable_project(ref)
        _require_developer(project)
        dep = rules.deploy(
            fake.state,
            project,
            str(params["environment"]),
            str(params["sha"]),
            user=the_user(),
            status=str(params["status"]),
            ref=str(params["ref"]),
            tag=as_bool(params["tag"]),
            with_job=False,
        )
        body = render_deploy.deployment(fake.state, fake.web_url, project, dep)
    return json_response(body, 201)


@deployments_api.put("/deployments/<int:deployment_id>")
def update_deployment(ref: str, deployment_id: int) -> Response:
    fake = the_fake()
    params = request_params()
    if not params.get("status"):
        raise ApiError(400, {"error": "status is missing"})
    with fake.state.lock:
        project = readable_project(ref)
        _require_developer(project)
        dep = _deployment(project, deployment_id)
        rules.set_status(fake.state, dep, str(params["status"]))
        return json_response(render_deploy.deployment(fake.state, fake.web_url, project, dep))


@deployments_api.get("/environments")
def list_environments(ref: str) -> Response:
    fake = the_fake()
    name = request.args.get("name")
    search = request.args.get("search", "").lower()
    states = request.args.get("states")
    with fake.state.lock:
        project = readable_project(ref)
        envs = sorted(project.environments.values(), key=lambda e: e.name)
        if name:
            envs = [e for e in envs if e.name == name]
        if search:
            envs = [e for e in envs if search in e.name.lower()]
        if states:
            envs = [e for e in envs if e.state == states]
        items = [render_deploy.environment(fake.state, fake.web_url, project, e) for e in envs]
    return paginated(items)


@deployments_api.get("/environments/<int:environment_id>")
def get_environment(ref: str, environment_id: int) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        env = next((e for e in project.environments.values() if e.id == environment_id), None)
        if env is None:
            raise NotFound("404 Not found")
        body = render_deploy.environment(fake.state, fake.web_url, project, env)
        last = render_deploy.last_deployment(project, env)
        body["last_deployment"] = (
            render_deploy.deployment(fake.state, fake.web_url, project, last) if last else None
        )
    return json_response(body)
