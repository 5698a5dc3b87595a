"""A fake GitLab for tests: the REST API (v4) on loopback, and webhooks out.

python-gitlab talks to it for real; responses and webhook payloads follow the
examples in /work/shared/data/gitlab/ (api/ and webhooks/)::

    with FakeGitLab() as fake, HookReceiver() as receiver:
        alice = fake.create_user("alice")
        project = fake.create_project(fake.create_group("gitlab-org"), "gitlab")
        fake.add_hook(receiver.url, token="s3cret")
        with gitlab.Gitlab(fake.url, private_token=alice.token) as gl:
            issue = gl.projects.get("gitlab-org/gitlab").issues.create({"title": "t"})
        assert fake.deliveries[0].headers["X-Gitlab-Event"] == "Issue Hook"

Modules: `state` (records and domain rules), `render` (REST JSON), `payloads`
(hook bodies), `delivery` (sending hooks), `faults` (failure injection), `api`
(Flask app), `server` (loopback serving), `receiver` (a recording hook receiver),
`fake` (the facade), `fixtures` (pytest fixtures).
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
    Group,
    Hook,
    Issue,
    Note,
    Project,
    User,
)
from tests.fake_gitlab.plumbing import RecordedRequest
from tests.fake_gitlab.receiver import HookReceiver, ReceivedHook

__all__ = [
    "DEVELOPER",
    "GUEST",
    "MAINTAINER",
    "OWNER",
    "PLANNER",
    "REPORTER",
    "Blocked",
    "Delivery",
    "FakeGitLab",
    "Group",
    "Hook",
    "HookReceiver",
    "Issue",
    "Note",
    "Project",
    "ReceivedHook",
    "RecordedRequest",
    "User",
]
