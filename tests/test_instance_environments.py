"""Environments on a GitLab instance: the call plan, the settings, the CLI, and who refuses.

The routed store's behaviour as a store is the shared suite's (tests/test_store_shared.py);
a rollout through the bot is tests/test_instance_e2e.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.orm import sessionmaker

import tracking
from flags.commands import execute
from flags.definitions import load
from flags.engine import Flags
from flags.grammar import parse
from flags.sql_store import SqlStore
from flags.state import OFF, ON, FlagState
from flags.store import InstanceEnvironment
from gitlab_ops.errors import TransientGitLabError
from gitlab_ops.feature_calls import Call, plan, state_from_gates
from gitlab_ops.instance_features import InstanceFeatures, InstanceRefused
from rollout_bot.cli import main
from rollout_bot.config import ConfigError, InstanceSettings, Settings
from rollout_bot.runtime import open_runtime
from tests.conftest import FIXTURES
from tests.fake_gitlab import FakeGitLab, render
from tests.fake_gitlab.server import LoopbackServer
from tests.fixtures.gitlab import api
from tests.instance_env import ADMIN_TOKEN, Instance, seed_instance
from tests.test_fake_gitlab import missing_keys

FLAG = "product_intelligence_database_event_tracking"

# --- the calls from one state to another (pure) -------------------------------------------


def test_plan_sends_nothing_when_the_instance_already_agrees() -> None:
    assert plan(None, None) == []
    assert plan(ON, ON) == []
    pct = FlagState(percentage_of_actors=25)
    assert plan(pct, pct) == []


def test_plan_enable_disable_and_forget() -> None:
    assert plan(FlagState(percentage_of_actors=25), ON) == [Call("set", "true")]
    assert plan(ON, OFF) == [Call("set", "false")]
    assert plan(None, OFF) == [Call("set", "false")]  # set, and off: not the default
    assert plan(OFF, None) == [Call("delete")]


def test_plan_adds_and_removes_actors_by_parameter() -> None:
    current = FlagState(actors=frozenset({"Project:1", "User:2"}))
    target = FlagState(actors=frozenset({"Project:1", "Group:7", "Namespace:9"}))
    assert plan(current, target) == [
        Call("set", "false", targets={"user": ("User:2",)}),
        Call("set", "true", targets={"group": ("Group:7",), "namespace": ("Namespace:9",)}),
    ]
    assert plan(None, FlagState(groups=frozenset({"staff"}))) == [
        Call("set", "true", feature_group="staff")
    ]


def test_plan_percentages_with_their_key() -> None:
    assert plan(None, FlagState(percentage_of_actors=12.5)) == [
        Call("set", "12.5", key="percentage_of_actors")
    ]
    assert plan(FlagState(percentage_of_time=5), FlagState(percentage_of_time=50)) == [
        Call("set", "50", key="percentage_of_time")
    ]


def test_plan_clears_first_what_the_api_cannot_take_back_alone() -> None:
    # `value=0` disables the whole flag on GitLab: a percentage goes by clearing everything.
    current = FlagState(percentage_of_actors=25, actors=frozenset({"User:2"}))
    target = FlagState(actors=frozenset({"User:2"}))
    assert plan(current, target) == [
        Call("set", "false"),
        Call("set", "true", targets={"user": ("User:2",)}),
    ]


def test_gates_read_back_as_the_instance_lists_them() -> None:
    gates: list[dict[str, Any]] = [
        {"key": "boolean", "value": False},
        {"key": "actors", "value": ["Project:1"]},
        {"key": "percentage_of_actors", "value": 34},
    ]
    assert state_from_gates(gates) == FlagState(
        actors=frozenset({"Project:1"}), percentage_of_actors=34
    )
    assert state_from_gates([{"key": "boolean", "value": True}]) == ON


# --- settings ---------------------------------------------------------------------------


def test_settings_name_the_environment_as_access_levels_do() -> None:
    settings = Settings.from_env(
        {
            "ROLLOUT_BOT_ENV_STAGING_REF_GITLAB_URL": "https://gitlab.example.com/",
            "ROLLOUT_BOT_ENV_STAGING_REF_TOKEN": "glpat-admin",
        }
    )
    (instance,) = settings.instances.values()
    assert list(settings.instances) == ["staging-ref"]
    assert instance.url == "https://gitlab.example.com" and instance.token == "glpat-admin"
    assert "glpat-admin" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ROLLOUT_BOT_ENV_PRODUCTION_GITLAB_URL": "https://gitlab.example.com"},
            "ROLLOUT_BOT_ENV_PRODUCTION_GITLAB_URL is set without ROLLOUT_BOT_ENV_PRODUCTION_TOKEN",
        ),
        (
            {"ROLLOUT_BOT_ENV_PRODUCTION_TOKEN": "glpat-admin"},
            "ROLLOUT_BOT_ENV_PRODUCTION_TOKEN is set without ROLLOUT_BOT_ENV_PRODUCTION_GITLAB_URL",
        ),
        (
            {"ROLLOUT_BOT_ENV_QA_GITLAB_URL": "https://x", "ROLLOUT_BOT_ENV_QA_TOKEN": "t"},
            "'qa' is not one of ROLLOUT_BOT_ENVIRONMENTS",
        ),
        (
            {
                "ROLLOUT_BOT_ENV_DEV_GITLAB_URL": "gitlab.example.com",
                "ROLLOUT_BOT_ENV_DEV_TOKEN": "t",
            },
            "is not an http(s) URL",
        ),
    ],
)
def test_half_an_instance_setting_is_a_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value) and "\n" not in str(caught.value)


# --- the CLI against an instance ----------------------------------------------------------


@pytest.fixture
def instance() -> Iterator[Instance]:
    with FakeGitLab() as fake:
        yield seed_instance(fake, "production", flags=(FLAG,))


def cli_env(database_url: str, instance: Instance, token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {
        "ROLLOUT_BOT_DATABASE_URL": database_url,
        "ROLLOUT_BOT_DEFINITIONS": "",
        "ROLLOUT_BOT_USER": "release-manager",
        "ROLLOUT_BOT_ENV_PRODUCTION_GITLAB_URL": instance.fake.url,
        "ROLLOUT_BOT_ENV_PRODUCTION_TOKEN": token,
    }


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def test_feature_set_and_get_through_the_instance(database_url: str, instance: Instance) -> None:
    env = cli_env(database_url, instance)
    host = urlsplit(instance.fake.url).netloc
    invoke(env, "feature", "set", FLAG, "true", "--staging")
    result = invoke(env, "feature", "set", FLAG, "10", "--actors")
    assert result.exit_code == 0, result.stderr
    assert f"  production ({host}): off (default) -> conditional" in result.output
    feature = instance.fake.state.features[FLAG]
    assert feature.percentage_of_actors == 10
    listed = invoke(env, "feature", "list")
    assert f"production ({host})=conditional" in listed.output
    checked = invoke(env, "feature", "check", FLAG, "--actor", "Group:1")
    assert checked.exit_code == 1
    assert (
        f"feature check cannot evaluate production: its flags live on the GitLab instance {host}"
        in checked.stderr
    )


def test_a_flag_the_instance_does_not_define_is_refused(
    database_url: str, instance: Instance
) -> None:
    env = cli_env(database_url, instance)
    instance.fake.state.feature_definitions.clear()
    invoke(env, "feature", "set", FLAG, "true", "--staging")
    result = invoke(env, "feature", "set", FLAG, "true")
    host = urlsplit(instance.fake.url).netloc
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: production ({host}) has no definition of '{FLAG}' "
        "(GET /features/definitions): deploy it there first"
    )
    assert instance.fake.state.features == {}
    history = invoke(env, "feature", "history", FLAG, "--json").output
    assert '"environment": "production"' not in history


# --- applications do not evaluate an instance's environment --------------------------------


def test_flags_and_tracking_refuse_an_environment_the_instance_holds(
    database_url: str, instance: Instance
) -> None:
    invoke(cli_env(database_url, instance), "feature", "list")  # the bot records it
    engine = sa.create_engine(database_url)
    try:
        store = SqlStore(engine)
        host = urlsplit(instance.fake.url).netloc
        assert store.recorded_instance("production") == host
        with pytest.raises(InstanceEnvironment) as caught:
            Flags(store, load([FIXTURES / "feature_flags"]), "production")
        assert str(caught.value) == (
            f"flags.Flags cannot evaluate production: its flags live on the GitLab instance "
            f"{host}, which evaluates them itself (Feature.enabled? there)"
        )
        Flags(store, load([FIXTURES / "feature_flags"]), "staging").close()
        with pytest.raises(InstanceEnvironment) as refused:
            tracking.install(
                sessionmaker(engine),
                collector="http://127.0.0.1:9",
                app_id="app",
                flags_url=database_url,
                environment="production",
            )
        assert str(refused.value).startswith("tracking.install cannot evaluate production")
        # A shell without the instance settings must not erase what applications rely on...
        bare = {k: v for k, v in cli_env(database_url, instance).items() if "_ENV_" not in k}
        listed = invoke(bare, "feature", "list")  # it cannot read production: refused
        assert listed.exit_code == 1
        assert f"production lives on the GitLab instance {host}" in listed.stderr
        assert store.recorded_instance("production") == host
        # ...while the service's own settings are the record, "none" included.
        service = open_runtime(Settings.from_env(bare), service=True)
        service.engine.dispose()
        assert store.recorded_instance("production") is None
    finally:
        engine.dispose()


# --- what the instance answers, as GitLab documents it ----------------------------------


def test_the_listed_gates_read_back_as_states() -> None:
    listed = {f["name"]: f for f in api("features.json")}
    rollout = state_from_gates(listed[FLAG]["gates"])
    assert rollout == FlagState(percentage_of_actors=25)
    assert rollout.state == listed[FLAG]["state"]
    assert state_from_gates(listed["rollout_bot_dashboard"]["gates"]) == ON


def test_the_fake_lists_features_and_definitions_as_documented(instance: Instance) -> None:
    features = instance.features()
    features.apply(FLAG, None, FlagState(percentage_of_actors=25))
    gl = features.client.gl
    (listed,) = [f.asdict() for f in gl.features.list(get_all=True)]
    documented = {f["name"]: f for f in api("features.json")}[FLAG]
    assert missing_keys(documented, listed) == []
    # GitLab lists the boolean gate too (false); its documented example leaves it out.
    assert state_from_gates(listed["gates"]) == state_from_gates(documented["gates"])
    (definition,) = gl.http_list("/features/definitions", get_all=True)
    assert missing_keys(api("features_definitions.json")[0], definition) == []
    assert features.defined(FLAG) and not features.defined("unknown_flag")


def test_a_flag_the_instance_no_longer_defines_can_still_be_forgotten(
    database_url: str, instance: Instance
) -> None:
    env = cli_env(database_url, instance)
    assert invoke(env, "feature", "set", FLAG, "true", "--staging").exit_code == 0
    assert invoke(env, "feature", "set", FLAG, "true").exit_code == 0
    instance.fake.state.feature_definitions.clear()  # its code no longer has the flag
    result = invoke(env, "feature", "delete", FLAG, "--staging", "--production")
    assert result.exit_code == 0, result.stderr
    assert instance.fake.state.features == {}
    assert len(instance.fake.requests_to("DELETE", rf"^/api/v4/features/{FLAG}$")) == 1


def held(instance: Instance) -> FlagState:
    return state_from_gates(render.feature(instance.fake.state.features[FLAG], None)["gates"])


def test_an_actor_the_instance_cannot_name_is_refused_before_any_write(
    database_url: str, instance: Instance
) -> None:
    """Taking a percentage back to 0 while an actor stays is a clear then a set: the
    actor's path must be known before the clear goes, or a refusal would leave the flag
    cleared on the instance while the bot says nothing changed."""
    env = cli_env(database_url, instance)
    for args in (("true", "--staging"), ("true", "--project=1"), ("25", "--actors")):
        assert invoke(env, "feature", "set", FLAG, *args).exit_code == 0
    kept = FlagState(actors=frozenset({"Project:1"}), percentage_of_actors=25)
    assert held(instance) == kept
    writes = len(instance.fake.requests_to("POST", rf"^/api/v4/features/{FLAG}$"))
    instance.fake.fail_next(1, 404, method="GET", path=r"^/api/v4/projects/1$")
    result = invoke(env, "feature", "set", FLAG, "0", "--actors")
    assert result.exit_code == 1
    assert "production (" in result.stderr and "refused finding Project:1: 404" in result.stderr
    assert held(instance) == kept
    assert len(instance.fake.requests_to("POST", rf"^/api/v4/features/{FLAG}$")) == writes


def test_a_cli_without_the_instance_settings_refuses_what_the_instance_holds(
    database_url: str, instance: Instance
) -> None:
    """A shell without the administrator's token must not set production in the bot's
    database (where nothing reads it) and say it did; it refuses, naming what to set."""
    with_settings = cli_env(database_url, instance)
    assert invoke(with_settings, "feature", "set", FLAG, "true", "--staging").exit_code == 0
    without = {k: v for k, v in with_settings.items() if not k.startswith("ROLLOUT_BOT_ENV_")}
    host = urlsplit(instance.fake.url).netloc
    for args in (("set", FLAG, "true"), ("get", FLAG), ("delete", FLAG, "--staging")):
        result = invoke(without, "feature", *args)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip() == (
            f"error: production lives on the GitLab instance {host}: set "
            "ROLLOUT_BOT_ENV_PRODUCTION_GITLAB_URL and ROLLOUT_BOT_ENV_PRODUCTION_TOKEN "
            "(an administrator's token) to read or change it from here"
        )
    assert FLAG not in instance.fake.state.features
    engine = sa.create_engine(database_url)
    try:
        snapshot = SqlStore(engine).snapshot()
        assert snapshot.get("production", FLAG) is None
        assert snapshot.get("staging", FLAG) == ON  # the refused delete left it
    finally:
        engine.dispose()
    history = invoke(without, "feature", "history", FLAG).output
    assert "production" not in history


def test_a_cli_with_another_instance_adds_to_the_record_and_erases_nothing(
    database_url: str, instance: Instance
) -> None:
    """Applications refuse what the record puts on an instance; a shell configured for
    staging's instance only must not take production off it."""
    host = urlsplit(instance.fake.url).netloc
    assert invoke(cli_env(database_url, instance), "feature", "list").exit_code == 0
    staging_only = {
        **{k: v for k, v in cli_env(database_url, instance).items() if "_ENV_" not in k},
        "ROLLOUT_BOT_ENV_STAGING_GITLAB_URL": instance.fake.url,
        "ROLLOUT_BOT_ENV_STAGING_TOKEN": ADMIN_TOKEN,
    }
    invoke(staging_only, "feature", "list")
    engine = sa.create_engine(database_url)
    try:
        store = SqlStore(engine)
        assert store.recorded_instances() == {"production": host, "staging": host}
    finally:
        engine.dispose()


def test_a_landed_write_is_recorded_by_its_retry_whatever_ran_in_between(
    database_url: str, instance: Instance
) -> None:
    """A timeout whose write landed is journaled for the retry to record; another command
    on the flag in between (it reads production for its consistency check) must leave
    that journal to the retry, or the change lands on the instance with no audit row."""
    env = cli_env(database_url, instance)
    assert invoke(env, "feature", "set", FLAG, "true", "--staging").exit_code == 0
    settings = Settings.from_env(env)
    short = InstanceSettings(instance.fake.url, ADMIN_TOKEN, timeout=0.5)
    runtime = open_runtime(dataclasses.replace(settings, instances={"production": short}))
    try:
        ctx = runtime.context(who="alice", source="test")
        envs = settings.environments
        writes = rf"^/api/v4/features/{FLAG}$"
        instance.fake.answer_late(2.0, method="POST", path=writes)
        with pytest.raises(TransientGitLabError):
            execute(ctx, parse(f"feature set {FLAG} 25 --actors", envs))
        instance.fake.faults.release()
        execute(ctx, parse(f"feature set {FLAG} true --dev", envs))  # reads production too
        retried = execute(ctx, parse(f"feature set {FLAG} 25 --actors", envs))
        assert [c.environment for c in retried.changes if c.changed] == ["production"]
        rows = [r for r in runtime.store.history(FLAG) if r.environment == "production"]
        assert [(r.gate, r.before, r.after) for r in rows] == [("percentage_of_actors", 0, 25)]
        assert len(instance.fake.requests_to("POST", writes)) == 1
    finally:
        runtime.engine.dispose()


def test_a_url_that_serves_no_gitlab_api_is_named_in_one_line() -> None:
    """A sign-in page (an SSO proxy, a wrong URL) answers 200 with HTML: the refusal says
    which setting to check, not a status GitLab never sent."""

    def sign_in_page(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<html><body>Sign in</body></html>"]

    server = LoopbackServer(sign_in_page, "sign-in page")
    server.start()
    try:
        features = InstanceFeatures("staging-ref", server.url, ADMIN_TOKEN, timeout=5.0)
        with pytest.raises(InstanceRefused) as refused:
            features.states()
        host = urlsplit(server.url).netloc
        assert str(refused.value) == (
            f"staging-ref ({host}) refused listing its flags: its answer is not the Features "
            "API's (Failed to parse the server message): check "
            "ROLLOUT_BOT_ENV_STAGING_REF_GITLAB_URL"
        )
    finally:
        server.stop()
