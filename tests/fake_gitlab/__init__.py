"""A fake GitLab for tests: the REST API (v4) on loopback, and webhooks out.

python-gitlab talks to it for real; responses and webhook payloads follow the
examples in GitLab's documentation (https://docs.gitlab.com/api/ and
https://docs.gitlab.com/user/project/integrations/webhook_events/)::

    with FakeGitLab() as fake, HookReceiver() as receiver:
        alice = fake.create_user("alice")
        project = fake.create_project(fake.create_group("gitlab-org"), "gitlab")
        fake.add_hook(receiver.url, token="s3cret")
        with gitlab.Gitlab(fake.url, private_token=alice.token) as gl:
            issue = gl.projects.get("gitlab-org/gitlab").issues.create({"title": "t"})
        assert fake.deliveries[0].headers["X-Gitlab-Event"] == "Issue Hook"

Repositories, merge requests and deployments::

    commit = fake.seed_repository(project, {"README.md": "# App\n"})
    fake.commit_as(alice, project, "cleanup", [{"action": "delete", "file_path": "README.md"}],
                   "Remove the README", start_branch="main")
    mr = fake.create_merge_request_as(alice, project, "cleanup", "main", "Cleanup")
    fake.merge_as(alice, project, mr.iid)  # a merge commit on main, a Merge Request Hook
    fake.deploy(project, "production", "main")

Modules: `state` (records and domain rules), `render` (REST JSON), `payloads`
(hook bodies), `delivery` (sending hooks), `faults` (failure injection), `api`
(Flask app), `server` (loopback serving), `receiver` (a recording hook receiver),
`fake` (the facade), `fixtures` (pytest fixtures). Repositories: `repository` (the
Git model), `repo_services` (GitLab's rules for commits, branches, tags),
`render_git` and `api_repository`. Merge requests: `merge_requests` (rules),
`render_mr`, `api_merge_requests`. Deployments: `deployments`, `render_deploy`,
`api_deployments`.
"""

from tests.fake_gitlab.delivery import Blocked, Delivery
from tests.fake_gitlab.fake import FakeGitLab
from tests.fake_gitlab.models import (
    DEVELOPER,
    GUEST,
    MAINTAINER,
    OWNER,
    PLANNER,
    REPORTER,
    Deployment,
    Environment,
    Group,
    Hook,
    Issue,
    MergeRequest,
    Note,
    Project,
    User,
)
from tests.fake_gitlab.plumbing import RecordedRequest
from tests.fake_gitlab.receiver import HookReceiver, ReceivedHook
from tests.fake_gitlab.repo_services import ServiceError
from tests.fake_gitlab.repository import Commit, Repository, Tag

__all__ = [
    "DEVELOPER",
    "GUEST",
    "MAINTAINER",
    "OWNER",
    "PLANNER",
    "REPORTER",
    "Blocked",
    "Commit",
    "Delivery",
    "Deployment",
    "Environment",
    "FakeGitLab",
    "Group",
    "Hook",
    "HookReceiver",
    "Issue",
    "MergeRequest",
    "Note",
    "Project",
    "ReceivedHook",
    "RecordedRequest",
    "Repository",
    "ServiceError",
    "Tag",
    "User",
]
