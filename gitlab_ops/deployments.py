"""Answers to `auto_deploy status SHA` and `release check MR_URL MILESTONE` from GitLab's API.

A commit is deployed to an environment when it is an ancestor of (or equal to)
the commit of that environment's last successful deployment: their merge base
is the commit itself. An MR is released in a milestone when its merge commit is
contained in a tag of that milestone (`v17.3.0`, `v17.3.1-ee`, `17.3.0`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from flags.errors import Refusal
from gitlab_ops.client import GitLab
from gitlab_ops.repository import Repository

MR_URL = re.compile(r"^/(?P<project>.+?)/-/merge_requests/(?P<iid>\d+)/?$")


@dataclass(frozen=True)
class EnvironmentDeployment:
    environment: str
    sha: str
    ref: str
    finished_at: str | None
    contains: bool


@dataclass(frozen=True)
class DeployStatus:
    project: str
    sha: str
    environments: tuple[EnvironmentDeployment, ...]

    def to_markdown(self) -> str:
        if not self.environments:
            return f"No environment of {self.project} has a successful deployment yet."
        lines = [
            f"Commit {self.sha[:11]} in {self.project}:",
            "",
            "| environment | last successful deployment | contains the commit |",
            "|---|---|---|",
        ]
        for env in self.environments:
            when = f", {env.finished_at}" if env.finished_at else ""
            verdict = "yes" if env.contains else "no"
            lines.append(f"| {env.environment} | {env.sha[:11]} ({env.ref}{when}) | {verdict} |")
        return "\n".join(lines)


def auto_deploy_status(repo: Repository, sha: str) -> DeployStatus:
    full = repo.commit_sha(sha)
    if full is None:
        raise Refusal(f"commit {sha} is not in {repo.path}")
    rows = []
    for environment in repo.environments():
        deployment = repo.last_successful_deployment(environment)
        if deployment is None:
            continue
        deployed = str(deployment["sha"])
        contains = deployed == full or repo.merge_base(deployed, full) == full
        rows.append(
            EnvironmentDeployment(
                environment=environment,
                sha=deployed,
                ref=str(deployment.get("ref", "")),
                finished_at=deployment.get("finished_at"),
                contains=contains,
            )
        )
    return DeployStatus(repo.path, full, tuple(rows))


@dataclass(frozen=True)
class ReleaseStatus:
    merge_request: str
    milestone: str
    merged: bool
    commit: str | None
    tags: tuple[str, ...]

    @property
    def released(self) -> bool:
        return bool(self.tags)

    def to_markdown(self) -> str:
        if not self.merged:
            return f"{self.merge_request} is not merged yet, so it is in no release."
        assert self.commit is not None
        if self.tags:
            return (
                f"{self.merge_request} (merge commit {self.commit[:11]}) is released in "
                f"{self.milestone}: {', '.join(self.tags)}."
            )
        return (
            f"{self.merge_request} (merge commit {self.commit[:11]}) is not in any "
            f"{self.milestone} tag yet."
        )


def milestone_tag(name: str, milestone: str) -> bool:
    return re.match(rf"^v?{re.escape(milestone)}(\.|-|$)", name) is not None


def parse_mr_url(url: str) -> tuple[str, int]:
    match = MR_URL.match(urlparse(url).path)
    if match is None:
        raise Refusal(f"'{url}' is not a merge request URL (…/GROUP/PROJECT/-/merge_requests/IID)")
    return match["project"], int(match["iid"])


def release_check(client: GitLab, mr_url: str, milestone: str) -> ReleaseStatus:
    if not re.fullmatch(r"\d+\.\d+", milestone):
        raise Refusal(f"milestone '{milestone}' is not a milestone such as 17.3")
    project, iid = parse_mr_url(mr_url)
    repo = Repository(client, project)
    mr = repo.merge_request(iid)
    reference = f"{repo.path}!{iid}"
    if mr.state != "merged":
        return ReleaseStatus(reference, milestone, False, None, ())
    commit = mr.merge_commit_sha or mr.squash_commit_sha or mr.sha
    if commit is None:
        return ReleaseStatus(reference, milestone, False, None, ())
    tags = tuple(sorted(t for t in repo.tags_containing(commit) if milestone_tag(t, milestone)))
    return ReleaseStatus(reference, milestone, True, commit, tags)
