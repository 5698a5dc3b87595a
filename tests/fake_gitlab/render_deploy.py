"""REST API (v4) representations of environments (environments.md) and deployments
(deployments.md). A deployment recorded as a CI job's carries that job as
`deployable`; one created through the Deployments API has `deployable: null`.
Call with the state lock held.
"""

from __future__ import annotations

from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.deployments import environment_of
from tests.fake_gitlab.models import Deployment, Environment, Project
from tests.fake_gitlab.render import api_time, user_basic
from tests.fake_gitlab.render_git import commit, project_url
from tests.fake_gitlab.state import State

# CI job statuses for a deployment's status (a blocked deployment waits on a manual job).
JOB_STATUSES = {"created": "created", "blocked": "manual"}
JOB_ID_OFFSET, PIPELINE_ID_OFFSET = 1000, 500


def environment_basic(env: Environment) -> Json:
    return {
        "id": env.id,
        "name": env.name,
        "slug": env.slug,
        "external_url": env.external_url,
        "created_at": api_time(env.created_at),
        "updated_at": api_time(env.updated_at),
    }


def environment(state: State, base: str, project: Project, env: Environment) -> Json:
    """`GET /projects/:id/environments` item; the single one adds `last_deployment`."""
    return environment_basic(env) | {
        "description": None,
        "state": env.state,
        "tier": env.tier,
        "auto_stop_at": None,
        "auto_stop_setting": "always",
        "cluster_agent": None,
        "kubernetes_namespace": None,
        "flux_resource_path": None,
        "enable_advanced_logs_querying": False,
        "logs_api_path": f"/{state.path_with_namespace(project)}/-/logs/k8s.json",
    }


def last_deployment(project: Project, env: Environment) -> Deployment | None:
    done = [
        d
        for d in project.deployments.values()
        if d.environment_id == env.id and d.status == "success"
    ]
    return max(done, key=lambda d: d.id) if done else None


def deployment(state: State, base: str, project: Project, dep: Deployment) -> Json:
    user = user_basic(base, state.users[dep.user_id])
    return {
        "id": dep.id,
        "iid": dep.iid,
        "ref": dep.ref,
        "sha": dep.sha,
        "created_at": api_time(dep.created_at),
        "updated_at": api_time(dep.updated_at),
        "finished_at": api_time(dep.finished_at),
        "status": dep.status,
        "user": user,
        "environment": environment_basic(environment_of(project, dep)),
        "deployable": _job(state, base, project, dep, user) if dep.with_job else None,
    }


def _job(state: State, base: str, project: Project, dep: Deployment, user: Json) -> Json:
    """The deploy job (Entities::Ci::Job) and its pipeline, derived from the deployment."""
    url = project_url(state, base, project)
    job_id, pipeline_id = JOB_ID_OFFSET + dep.id, PIPELINE_ID_OFFSET + dep.id
    status = JOB_STATUSES.get(dep.status, dep.status)
    created = api_time(dep.created_at)
    finished = api_time(dep.finished_at)
    env_name = environment_of(project, dep).name
    return {
        "id": job_id,
        "status": status,
        "stage": "deploy",
        "name": f"deploy:{env_name}",
        "ref": dep.ref,
        "tag": dep.tag,
        "coverage": None,
        "allow_failure": False,
        "created_at": created,
        "started_at": created,
        "finished_at": finished,
        "erased_at": None,
        "duration": None,
        "queued_duration": None,
        "user": user,
        "commit": commit(state, base, project, project.repository.commits[dep.sha]),
        "pipeline": {
            "id": pipeline_id,
            "iid": dep.iid,
            "project_id": project.id,
            "sha": dep.sha,
            "ref": dep.ref,
            "status": status,
            "source": "push",
            "created_at": created,
            "updated_at": api_time(dep.updated_at),
            "web_url": f"{url}/-/pipelines/{pipeline_id}",
        },
        "web_url": f"{url}/-/jobs/{job_id}",
        "project": {"ci_job_token_scope_enabled": False},
        "artifacts": [],
        "artifacts_expire_at": None,
        "runner": None,
        "tag_list": [],
    }
