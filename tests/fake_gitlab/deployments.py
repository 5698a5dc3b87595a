"""Environments and deployments, as a CI deploy job (or the Deployments API) records them.

An environment is created by its first deployment, with GitLab's guessed tier
(Environment#guess_tier). A deployment is finished (`finished_at`) once its status
is success, failed or canceled. Call with the state lock held.
"""

from __future__ import annotations

import re

from tests.fake_gitlab.models import Deployment, Environment, Project, User
from tests.fake_gitlab.repo_services import ServiceError, resolve
from tests.fake_gitlab.state import State

STATUSES = ("created", "running", "success", "failed", "canceled", "blocked")
FINISHED = ("success", "failed", "canceled")

# Environment#guess_tier, in GitLab's order.
_TIERS = (
    ("development", re.compile(r"(dev|review|trunk)", re.IGNORECASE)),
    ("testing", re.compile(r"(test|tst|int|ac(ce|)pt|qa|qc|control|quality)", re.IGNORECASE)),
    ("staging", re.compile(r"(st(a|)g|mod(e|)l|pre|demo|non)", re.IGNORECASE)),
    ("production", re.compile(r"(pr(o|)d|live)", re.IGNORECASE)),
)


def guess_tier(name: str) -> str:
    return next((tier for tier, pattern in _TIERS if pattern.search(name)), "other")


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24].rstrip("-")
    return text if text[:1].isalpha() else f"env-{text}"[:24]


def environment(
    state: State, project: Project, name: str, external_url: str | None = None
) -> Environment:
    """The project's environment of that name, created on first use."""
    if name not in project.environments:
        now = state.now()
        project.environments[name] = Environment(
            id=state.next_id("environment"),
            project_id=project.id,
            name=name,
            slug=slug(name),
            tier=guess_tier(name),
            created_at=now,
            updated_at=now,
            external_url=external_url,
        )
    return project.environments[name]


def deploy(
    state: State,
    project: Project,
    environment_name: str,
    sha_or_ref: str,
    *,
    user: User,
    status: str = "success",
    ref: str | None = None,
    tag: bool | None = None,
    with_job: bool = True,
) -> Deployment:
    """Record a deployment of a commit (a sha, branch or tag) to an environment."""
    if status not in STATUSES:
        raise ServiceError(400, "status does not have a valid value", key="error")
    repo = project.repository
    commit = resolve(project, sha_or_ref)
    if commit is None:
        raise ServiceError(400, f"Invalid reference: {sha_or_ref}")
    if ref is None:
        ref = sha_or_ref if sha_or_ref in repo.branches or sha_or_ref in repo.tags else None
        ref = ref or project.default_branch
    env = environment(state, project, environment_name)
    now = state.now()
    deployment = Deployment(
        id=state.next_id("deployment"),
        iid=len(project.deployments) + 1,
        project_id=project.id,
        environment_id=env.id,
        ref=ref,
        sha=commit.id,
        tag=ref in repo.tags if tag is None else tag,
        status=status,
        user_id=user.id,
        created_at=now,
        updated_at=now,
        finished_at=now if status in FINISHED else None,
        with_job=with_job,
    )
    project.deployments[deployment.iid] = deployment
    env.updated_at = now
    return deployment


def set_status(state: State, deployment: Deployment, status: str) -> None:
    if status not in STATUSES:
        raise ServiceError(400, "status does not have a valid value", key="error")
    now = state.now()
    deployment.status, deployment.updated_at = status, now
    if status in FINISHED and deployment.finished_at is None:
        deployment.finished_at = now


def environment_of(project: Project, deployment: Deployment) -> Environment:
    return next(e for e in project.environments.values() if e.id == deployment.environment_id)
