"""A GitLab instance in the fake that holds one environment's flags (its Features API).

Seeded as an administrator would find it: users, a group and projects to name as
actors, and the flag definitions the instance was deployed with
(`GET /features/definitions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gitlab_ops.instance_features import InstanceFeatures
from tests.fake_gitlab import FakeGitLab
from tests.fake_gitlab.models import User

ADMIN_TOKEN = "glpat-instance-admin"
DEVELOPER_TOKEN = "glpat-instance-developer"


@dataclass
class Instance:
    fake: FakeGitLab
    admin: User
    environment: str

    def features(self, *, token: str = ADMIN_TOKEN, timeout: float = 10.0) -> InstanceFeatures:
        return InstanceFeatures(self.environment, self.fake.url, token, timeout=timeout)


def seed_instance(
    fake: FakeGitLab, environment: str, flags: tuple[str, ...] = ("f", "g"), users: int = 8
) -> Instance:
    """User:1 is the administrator, User:2..User:`users` others; Project:1 and Project:2
    are `gitlab-org/gitlab` and `gitlab-org/gitaly`; Group:… is `gitlab-org`."""
    admin = fake.create_user("root", token=ADMIN_TOKEN, admin=True)
    fake.create_user("dev", token=DEVELOPER_TOKEN)
    for n in range(3, users + 1):
        fake.create_user(f"user{n}")
    group = fake.create_group("gitlab-org")
    fake.create_project(group, "gitlab")
    fake.create_project(group, "gitaly")
    for name in flags:
        fake.define_feature(name)
    return Instance(fake, admin, environment)
