"""End to end: dev and staging in the bot's database, production on a GitLab instance.

The instance is a second fake GitLab, driven through its Features API by python-gitlab:
a whole rollout from the rollout issue, the consistency check across both kinds of
environment, the instance's refusals, and a timeout whose step is retried.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from flags.sql_store import SqlStore
from flags.state import FlagState
from gitlab_ops.feature_calls import state_from_gates
from rollout_bot.config import InstanceSettings
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.fake_gitlab import FakeGitLab, render
from tests.instance_env import ADMIN_TOKEN, DEVELOPER_TOKEN, Instance, seed_instance
from webhook.app import create_app
from webhook.dashboard.instance_states import NOTE as INSTANCE_NOTE

FEATURE_WRITES = rf"^/api/v4/features/{FLAG}$"


@pytest.fixture
def instance() -> Iterator[Instance]:
    with FakeGitLab() as fake:
        yield seed_instance(fake, "production", flags=(FLAG,))


def _stack(database_url: str, instance: Instance, token: str = ADMIN_TOKEN) -> Iterator[BotStack]:
    environ = {
        "ROLLOUT_BOT_ENV_PRODUCTION_GITLAB_URL": instance.fake.url,
        "ROLLOUT_BOT_ENV_PRODUCTION_TOKEN": token,
    }
    # A short timeout, so a held answer times out within the test.
    settings = {"production": InstanceSettings(instance.fake.url, token, timeout=1.0)}
    with bot_stack(database_url, environ=environ, instances=settings) as running:
        yield running


@pytest.fixture
def stack(database_url: str, instance: Instance) -> Iterator[BotStack]:
    yield from _stack(database_url, instance)


def held(instance: Instance) -> FlagState | None:
    """The flag as the instance holds it (None: never set there)."""
    feature = instance.fake.state.features.get(FLAG)
    if feature is None:
        return None
    return state_from_gates(render.feature(feature, None)["gates"])


def in_database(stack: BotStack, environment: str) -> FlagState | None:
    return SqlStore(stack.runtime.engine).snapshot().get(environment, FLAG)


def label(instance: Instance) -> str:
    return f"production ({urlsplit(instance.fake.url).netloc})"


def set_percentage(stack: BotStack, iid: int, value: str = "25") -> None:
    stack.edit(
        stack.alice,
        iid,
        f"feature set {FLAG} <rollout-percentage> --actors",
        f"feature set {FLAG} {value} --actors",
    )


def test_a_whole_rollout_with_production_on_an_instance(
    stack: BotStack, instance: Instance
) -> None:
    iid = stack.open_issue("--sha", "a6ddfcf7")
    name = label(instance)

    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    for environment in ("dev", "staging", "staging-ref"):
        assert in_database(stack, environment) == FlagState(boolean=True)
    assert held(instance) is None  # the instance was read, not written

    set_percentage(stack, iid)
    stack.tick(stack.alice, iid, "rollout-actors-command")
    stack.wait_updates()
    assert held(instance) == FlagState(percentage_of_actors=25)
    assert in_database(stack, "production") is None  # states live on the instance only
    note = stack.bot_notes(iid)[-1]
    assert f"| {name} | off (default) | conditional | percentage_of_actors: 0% → 25% |" in note

    card = json.loads(stack.cli("feature", "get", FLAG, "--json"))
    production = card["environments"]["production"]
    assert production["gates"]["percentage_of_actors"] == 25
    assert production["instance"] == urlsplit(instance.fake.url).netloc
    assert "instance" not in card["environments"]["staging"]
    (state_note,) = stack.state_notes(iid)
    assert f"| {name} | 25% of actors |" in state_note
    assert_dashboard_shows(stack, instance, "25% of actors")

    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_updates()
    assert held(instance) == FlagState(boolean=True)
    assert f"| {name} | on |" in stack.state_notes(iid)[0]

    stack.tick(stack.alice, iid, "rollback")
    stack.wait_updates()
    assert held(instance) == FlagState()  # disabled: set, every gate off

    stack.tick(stack.alice, iid, "cleanup-delete-command")
    stack.wait_updates()
    assert held(instance) is None  # forgotten: the definition's default again
    for environment in ("dev", "staging", "staging-ref"):
        assert in_database(stack, environment) is None
    assert f"| {name} | off (default) |" in stack.state_notes(iid)[0]

    rows = [r for r in stack.runtime.store.history(FLAG) if r.environment == "production"]
    assert [(r.action, r.gate, r.before, r.after) for r in rows] == [
        ("delete", "all", FlagState().gates(), None),  # rollback's state, then the default
        ("set", "boolean", True, False),  # rollback
        ("set", "percentage_of_actors", 25, 0),  # full enable clears the percentage
        ("set", "boolean", False, True),
        ("set", "percentage_of_actors", 0, 25),
    ]
    assert {r.instance for r in rows} == {urlsplit(instance.fake.url).netloc}
    assert {r.who for r in rows} == {"alice"}
    history = stack.cli("feature", "history", FLAG)
    assert f"  {name}  " in history
    assert_dashboard_shows(stack, instance, "off (default)")


def assert_dashboard_shows(stack: BotStack, instance: Instance, phrase: str) -> None:
    """The dashboard never calls the instance: it shows what the bot last set there, says
    so, and agrees with what the instance holds."""
    app = create_app(
        stack.runtime.engine,
        registry=stack.runtime.registry,
        environments=stack.runtime.settings.environments,
        dashboard_token="t",
    )
    client = app.test_client()
    bearer = {"Authorization": "Bearer t"}
    host = urlsplit(instance.fake.url).netloc
    answer = client.get("/api/flags", headers=bearer).get_json()
    assert answer["instances"] == {"production": host}
    (row,) = [flag for flag in answer["flags"] if flag["name"] == FLAG]
    production = row["states"]["production"]
    assert production["text"] == phrase
    expected = held(instance)
    assert production["default"] is (expected is None)
    if expected is not None:
        assert production["gates"] == expected.gates()
    page = client.get(f"/flags/{FLAG}", headers=bearer).text
    assert f"on {host}, {INSTANCE_NOTE}" in page


def test_the_consistency_check_spans_the_database_and_the_instance(
    stack: BotStack, instance: Instance
) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_updates()
    assert "is off on staging, so it cannot be enabled on production" in stack.bot_notes(iid)[-1]
    assert held(instance) is None
    assert instance.fake.requests_to("POST", FEATURE_WRITES) == []

    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_updates()
    assert held(instance) == FlagState(boolean=True)
    stack.fake.add_note_as(
        stack.alice, stack.project, iid, f"/chatops run feature set {FLAG} false --staging"
    )
    stack.wait_updates()
    assert "is on on production, so it cannot be disabled on staging" in stack.bot_notes(iid)[-1]
    assert in_database(stack, "staging") == FlagState(boolean=True)


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (400, "400 400 Bad Request"),
        (404, "404 not found there"),
    ],
)
def test_a_refusal_from_the_instance_is_one_comment_and_changes_nothing(
    stack: BotStack, instance: Instance, status: int, why: str
) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    notes_before = len(stack.bot_notes(iid))
    instance.fake.fail_next(1, status, method="POST", path=FEATURE_WRITES)
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_updates()
    notes = stack.bot_notes(iid)
    assert len(notes) == notes_before + 1
    assert f"{label(instance)} refused setting {FLAG} to true: {why}" in notes[-1]
    assert held(instance) is None
    assert not stack.checked(iid, "enable-production-command")
    assert [r for r in stack.runtime.store.history(FLAG) if r.environment == "production"] == []
    assert len(instance.fake.requests_to("POST", FEATURE_WRITES)) == 1


def test_a_token_that_is_not_an_administrators_is_refused(
    database_url: str, instance: Instance
) -> None:
    for stack in _stack(database_url, instance, token=DEVELOPER_TOKEN):
        iid = stack.open_issue()
        stack.tick(stack.alice, iid, "enable-non-production-command")
        stack.wait_updates()
        (note,) = stack.bot_notes(iid)
        assert (
            f"{label(instance)} refused listing its flags: 403 the token is not an "
            "administrator's (the Features API needs one)"
        ) in note
        # The consistency check needs production's state: nothing ran anywhere.
        assert in_database(stack, "staging") is None
        assert not stack.checked(iid, "enable-non-production-command")


def test_a_timeout_is_retried_and_applied_once(stack: BotStack, instance: Instance) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    notes_before = len(stack.bot_notes(iid))
    # The instance makes the change but answers after the bot's 1 s timeout.
    instance.fake.answer_late(3.0, method="POST", path=FEATURE_WRITES)
    set_percentage(stack, iid)
    stack.tick(stack.alice, iid, "rollout-actors-command")
    stack.wait_updates()
    instance.fake.faults.release()
    assert held(instance) == FlagState(percentage_of_actors=25)
    assert len(instance.fake.requests_to("POST", FEATURE_WRITES)) == 1  # never sent twice
    notes = stack.bot_notes(iid)
    assert len(notes) == notes_before + 1
    assert (
        f"| {label(instance)} | off (default) | conditional | percentage_of_actors: 0% → 25% |"
        in notes[-1]
    )
    rows = [r for r in stack.runtime.store.history(FLAG) if r.environment == "production"]
    assert [(r.gate, r.before, r.after) for r in rows] == [("percentage_of_actors", 0, 25)]
    assert stack.checked(iid, "rollout-actors-command")


def test_a_project_actor_is_the_project_of_that_path_on_the_instance(
    stack: BotStack, instance: Instance
) -> None:
    """The instance numbers its projects its own way: a path given on the issue names the
    project of that path there, never the one that has the bot's GitLab's id for it."""
    stack.new_project("www")  # gitlab-org/www has id 2 on the bot's GitLab...
    org = instance.fake.state.group("gitlab-org")
    www = instance.fake.create_project(org, "www")  # ...and another id on the instance
    gitaly = instance.fake.state.project("gitlab-org/gitaly")
    assert www.id != stack.fake.state.project("gitlab-org/www").id == gitaly.id
    iid = stack.open_issue("--actor-project", "gitlab-org/www")
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    stack.tick(stack.alice, iid, "enable-project-actors-command")
    stack.wait_updates()
    assert held(instance) == FlagState(actors=frozenset({f"Project:{www.id}"}))
    assert stack.checked(iid, "enable-project-actors-command")


def test_a_project_only_the_bots_gitlab_has_is_refused_for_the_instance(
    stack: BotStack, instance: Instance
) -> None:
    stack.new_project("www")  # not on the instance
    iid = stack.open_issue("--actor-project", "gitlab-org/www")
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    notes_before = len(stack.bot_notes(iid))
    stack.tick(stack.alice, iid, "enable-project-actors-command")
    stack.wait_updates()
    notes = stack.bot_notes(iid)
    assert len(notes) == notes_before + 1
    assert f"{label(instance)}: --project=gitlab-org/www: not found" in notes[-1]
    assert held(instance) is None
    assert not stack.checked(iid, "enable-project-actors-command")
    assert instance.fake.requests_to("POST", FEATURE_WRITES) == []
