"""The ChatOps grammar: what parses, and every stateless refusal with its message."""

from __future__ import annotations

import pytest

from flags.errors import Refusal
from flags.grammar import FeatureCommand, Target
from gitlab_ops.chatops import AutoDeployStatus, ReleaseCheck, parse

ENVS = ("dev", "staging", "staging-ref", "production")
FLAG = "product_intelligence_database_event_tracking"


def feature(text: str) -> FeatureCommand:
    command = parse(text, ENVS)
    assert isinstance(command, FeatureCommand)
    return command


def test_the_seed_commands_parse() -> None:
    cmd = feature(f"/chatops run feature set {FLAG} true --dev --staging --staging-ref")
    assert (cmd.verb, cmd.name, cmd.value) == ("set", FLAG, True)
    assert cmd.environments == ("dev", "staging", "staging-ref")

    cmd = feature(
        f"/chatops run feature set --project=gitlab-org/gitlab,gitlab-org/gitlab-foss,"
        f"gitlab-com/www-gitlab-com {FLAG} true"
    )
    assert cmd.environments == ()
    assert cmd.targets == (
        Target("project", "gitlab-org/gitlab"),
        Target("project", "gitlab-org/gitlab-foss"),
        Target("project", "gitlab-com/www-gitlab-com"),
    )

    cmd = feature(f"/chatops run feature set {FLAG} 25 --actors")
    assert cmd.value == 25.0 and cmd.actors and cmd.is_percentage

    cmd = feature(f"/chatops run feature set {FLAG} 12.5 --random")
    assert cmd.value == 12.5 and cmd.random

    cmd = feature(f"/chatops run feature delete {FLAG} --dev --staging --staging-ref --production")
    assert cmd.verb == "delete" and cmd.environments == ENVS

    assert parse("/chatops run auto_deploy status a6ddfcf7", ENVS) == AutoDeployStatus("a6ddfcf7")
    assert parse(
        "/chatops run release check https://gitlab.com/g/p/-/merge_requests/1 17.3", ENVS
    ) == ReleaseCheck("https://gitlab.com/g/p/-/merge_requests/1", "17.3")


def test_backticks_and_targets_of_every_kind() -> None:
    cmd = feature(
        f"feature set `{FLAG}` false --group=1,2 --user=3 --namespace=4 --feature-group=staff"
    )
    assert cmd.name == FLAG and cmd.value is False
    assert [str(t) for t in cmd.targets] == ["--group=1", "--group=2", "--user=3", "--namespace=4"]
    assert cmd.feature_groups == ("staff",)
    assert feature(f"`/chatops run feature get {FLAG}`").name == FLAG


def test_list_and_get() -> None:
    assert feature("feature list --match=snowplow").match == "snowplow"
    assert feature(f"feature get {FLAG} --staging").environments == ("staging",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feature set", "the flag name is missing; usage: feature set NAME VALUE"),
        (f"feature set {FLAG}", "the value is missing; usage: feature set NAME VALUE"),
        ("feature get", "the flag name is missing; usage: feature get NAME"),
        ("feature delete --dev", "the flag name is missing"),
        (
            f"feature set {FLAG} yes",
            "value 'yes' must be true, false or a percentage from 0 to 100",
        ),
        (f"feature set {FLAG} 101 --actors", "value '101' must be true, false or a percentage"),
        (f"feature set {FLAG} -5 --actors", "value '-5' must be true, false or a percentage"),
        (
            f"feature set {FLAG} 25",
            "a percentage needs --actors (percentage of actors) or --random (percentage of time)",
        ),
        (f"feature set {FLAG} 25 --actors --random", "use either --actors or --random, not both"),
        (f"feature set {FLAG} true --actors", "--actors and --random take a percentage value"),
        (f"feature set {FLAG} 25 --actors --project=1", "they do not combine with --project"),
        (f"feature set {FLAG} 25 --random --feature-group=staff", "they do not combine with"),
        (f"feature set {FLAG} true --prod", "unknown option --prod for feature set"),
        (f"feature set {FLAG} true --project", "--project needs a value"),
        (f"feature set {FLAG} true --project=1,,2", "--project needs a comma-separated list"),
        (f"feature set {FLAG} true extra", "unexpected argument 'extra'"),
        ("feature flip x", "unknown feature command 'flip'"),
        ("deploy everything", "unknown command 'deploy'"),
        ("", "empty command"),
        ("feature set 'x true", "cannot read the command"),
        ("auto_deploy status nothex!", "is not a commit SHA"),
        ("release check only-one", "usage: release check MR_URL MILESTONE"),
        (
            f"feature set {FLAG} <rollout-percentage> --actors",
            "the command still has a placeholder: replace <rollout-percentage> with the "
            "percentage to roll out to, a number from 0 to 100",
        ),
        (
            f"/chatops run feature set --user=<your-username> {FLAG} true",
            "replace <your-username> with your GitLab username",
        ),
        (
            "/chatops run release check <merge-request-url> <milestone>",
            "replace <merge-request-url> with the merge request's URL; replace <milestone> with",
        ),
    ],
)
def test_refusals(text: str, message: str) -> None:
    with pytest.raises(Refusal) as info:
        parse(text, ENVS)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_placeholder_is_reported_before_the_value_check() -> None:
    # The value <rollout-percentage> is also not a number; the placeholder says more.
    with pytest.raises(Refusal, match="placeholder"):
        parse(f"feature set {FLAG} <rollout-percentage> --random", ENVS)


def test_configured_environments_define_the_options() -> None:
    command = parse(f"feature set {FLAG} true --canary", ("canary", "production"))
    assert isinstance(command, FeatureCommand) and command.environments == ("canary",)
    with pytest.raises(Refusal, match="unknown option --dev"):
        parse(f"feature set {FLAG} true --dev", ("canary", "production"))
