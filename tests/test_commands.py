"""`feature` commands against every store: semantics, refusals that change nothing, audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from flags.actors import NumericResolver
from flags.commands import AlreadyRun, Context, Result, execute
from flags.definitions import Definition, Registry, load
from flags.errors import Refusal
from flags.grammar import FeatureCommand, parse
from flags.state import FlagState
from flags.store import Store

ENVS = ("dev", "staging", "staging-ref", "production")
FLAG = "rollout_flag"


def registry() -> Registry:
    return Registry(
        definitions={
            FLAG: Definition(name=FLAG, type="beta", default_enabled=False, path="beta/x.yml"),
            "on_flag": Definition(name="on_flag", type="ops", default_enabled=True, path="o.yml"),
        }
    )


def context(store: Store, reg: Registry | None = None) -> Context:
    return Context(
        store=store,
        registry=reg or registry(),
        environments=ENVS,
        resolver=NumericResolver(),
        who="alice",
        source="cli",
    )


def run(store: Store, text: str, reg: Registry | None = None) -> Result:
    command = parse(text, ENVS)
    assert isinstance(command, FeatureCommand)
    return execute(context(store, reg), command)


def state(store: Store, env: str = "production", name: str = FLAG) -> FlagState | None:
    return store.snapshot().get(env, name)


def assert_refused_and_unchanged(store: Store, text: str, message: str) -> None:
    before = (store.snapshot().states, store.version(), store.history())
    with pytest.raises(Refusal) as info:
        run(store, text)
    assert message in str(info.value)
    assert (store.snapshot().states, store.version(), store.history()) == before


def test_enable_on_non_production(store: Store) -> None:
    result = run(store, f"/chatops run feature set {FLAG} true --dev --staging --staging-ref")
    assert [c.environment for c in result.changes] == ["dev", "staging", "staging-ref"]
    assert all(
        c.before.state.state == "off" and c.after.state.state == "on" for c in result.changes
    )
    assert state(store, "staging") == FlagState(boolean=True)
    assert state(store, "production") is None


def test_no_environment_means_production(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging")
    run(store, f"feature set {FLAG} true")
    assert state(store) == FlagState(boolean=True)


def test_actors_and_groups_accumulate_and_are_removed(store: Store) -> None:
    run(store, f"feature set --project=1,2 {FLAG} true")
    run(store, f"feature set --group=9 --user=7 --namespace=5 {FLAG} true")
    run(store, f"feature set --feature-group=staff {FLAG} true")
    assert state(store) == FlagState(
        actors=frozenset({"Project:1", "Project:2", "Group:9", "User:7", "Namespace:5"}),
        groups=frozenset({"staff"}),
    )
    run(store, f"feature set --project=2 --feature-group=staff {FLAG} false")
    current = state(store)
    assert current is not None and "Project:2" not in current.actors and not current.groups


def test_enable_clears_other_gates_and_disable_clears_all(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging")
    run(store, f"feature set --project=1 {FLAG} true")
    run(store, f"feature set {FLAG} 25 --actors")
    run(store, f"feature set {FLAG} true")
    assert state(store) == FlagState(boolean=True)
    run(store, f"feature set --project=1 {FLAG} true")
    run(store, f"feature set {FLAG} false")
    assert state(store) == FlagState()


def test_percentages(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging")
    run(store, f"feature set {FLAG} 25 --actors")
    run(store, f"feature set {FLAG} 12.5 --random")
    assert state(store) == FlagState(percentage_of_actors=25, percentage_of_time=12.5)


def test_delete_returns_to_the_default(store: Store) -> None:
    run(store, "feature set on_flag false --dev")
    assert state(store, "dev", "on_flag") == FlagState()
    result = run(store, "feature delete on_flag --dev --production")
    assert state(store, "dev", "on_flag") is None
    dev, production = result.changes
    assert dev.changed and dev.after.is_default and dev.after.state.state == "on"
    assert not production.changed
    assert [(r.gate, r.before, r.after) for r in store.history("on_flag")][0] == (
        "boolean",
        False,
        True,
    )


def test_setting_the_same_value_twice_changes_nothing_the_second_time(store: Store) -> None:
    run(store, f"feature set {FLAG} true --dev")
    version, rows = store.version(), len(store.history())
    result = run(store, f"feature set {FLAG} true --dev")
    assert not result.changes[0].changed
    assert (store.version(), len(store.history())) == (version, rows)


def test_explicitly_setting_the_default_is_recorded(store: Store) -> None:
    result = run(store, f"feature set {FLAG} false --dev")
    assert result.changes[0].changed and not result.changes[0].after.is_default
    (row,) = store.history(FLAG)
    assert (row.gate, row.before, row.after["boolean"]) == ("all", None, False)


def test_audit_rows(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging")
    run(store, f"feature set {FLAG} 25 --actors")
    run(store, f"feature set {FLAG} true")
    rows = store.history(FLAG)
    assert [(r.environment, r.action, r.gate, r.before, r.after) for r in rows] == [
        ("production", "set", "percentage_of_actors", 25, 0),
        ("production", "set", "boolean", False, True),
        ("production", "set", "percentage_of_actors", 0, 25),
        ("staging", "set", "boolean", False, True),
    ]
    assert {(r.who, r.source) for r in rows} == {("alice", "cli")}


def test_get_and_list_read_every_environment(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging")
    result = run(store, f"feature get {FLAG}")
    ((name, states),) = result.states
    assert name == FLAG
    assert [(s.environment, s.state.state, s.is_default) for s in states] == [
        ("dev", "off", True),
        ("staging", "on", False),
        ("staging-ref", "off", True),
        ("production", "off", True),
    ]
    listed = run(store, "feature list --match=on_")
    assert [name for name, _ in listed.states] == ["on_flag"]
    assert [s.state.state for s in listed.states[0][1]] == ["on", "on", "on", "on"]


# --- refusals: each has its message, and nothing changes --------------------------------


def test_undefined_flag_is_refused(store: Store) -> None:
    assert_refused_and_unchanged(
        store,
        "feature set no_such_flag true --dev",
        "flag 'no_such_flag' is not defined: add config/feature_flags/<type>/no_such_flag.yml",
    )
    with pytest.raises(Refusal, match="not defined"):
        run(store, "feature get no_such_flag")


def test_undefined_because_broken_says_so(store: Store, tmp_path: Path) -> None:
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "broken_flag.yml").write_text("name: broken_flag\ntype: beta\n")
    reg = load([tmp_path])
    with pytest.raises(Refusal, match="its definition .* has errors"):
        run(store, "feature set broken_flag true --dev", reg)


def test_production_enable_while_staging_is_off_is_refused(store: Store) -> None:
    message = (
        f"consistency check: '{FLAG}' is off on staging, so it cannot be enabled on production"
    )
    assert_refused_and_unchanged(store, f"feature set {FLAG} true", message)
    assert_refused_and_unchanged(store, f"feature set {FLAG} 25 --actors", message)
    assert_refused_and_unchanged(store, f"feature set {FLAG} 5 --random", message)


def test_consistency_counts_the_same_commands_staging_change(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging --production")
    assert state(store) == FlagState(boolean=True)


def test_actor_enables_on_production_are_not_held_by_staging(store: Store) -> None:
    run(store, f"feature set --group=9 {FLAG} true")
    assert state(store) == FlagState(actors=frozenset({"Group:9"}))


def test_staging_disable_while_production_is_on_is_refused(store: Store) -> None:
    run(store, f"feature set {FLAG} true --staging")
    run(store, f"feature set {FLAG} 25 --actors")
    assert_refused_and_unchanged(
        store,
        f"feature set {FLAG} false --staging",
        f"consistency check: '{FLAG}' is partly on on production, so it cannot be disabled on "
        "staging; disable it on production first",
    )
    assert_refused_and_unchanged(store, f"feature delete {FLAG} --staging", "consistency check")


def test_the_consistency_check_can_be_ignored(store: Store) -> None:
    run(store, f"feature set {FLAG} true --ignore-feature-flag-consistency-check")
    assert state(store) == FlagState(boolean=True)
    run(store, f"feature set {FLAG} false --staging --ignore-feature-flag-consistency-check")
    assert state(store, "staging") == FlagState()


def test_percentage_on_a_fully_enabled_flag_is_refused(store: Store) -> None:
    run(store, f"feature set {FLAG} true --dev")
    assert_refused_and_unchanged(
        store,
        f"feature set {FLAG} 25 --actors --dev",
        "cannot set a percentage of actors on a fully enabled flag",
    )
    assert_refused_and_unchanged(
        store,
        f"feature set {FLAG} 25 --random --dev",
        "cannot set a percentage of time on a fully enabled flag",
    )
    # A default-enabled flag never set is fully on too.
    assert_refused_and_unchanged(
        store, "feature set on_flag 25 --actors --dev", "fully enabled flag"
    )


def test_paths_need_a_gitlab_connection(store: Store) -> None:
    assert_refused_and_unchanged(
        store,
        f"feature set --project=gitlab-org/gitlab {FLAG} true",
        "--project=gitlab-org/gitlab: resolving paths and usernames needs ROLLOUT_BOT_GITLAB_URL",
    )
    assert_refused_and_unchanged(
        store,
        f"feature set --user=alice {FLAG} true --dev",
        "--user=alice: resolving paths",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feature set", "the flag name is missing"),
        (f"feature set {FLAG}", "the value is missing"),
        (f"feature set {FLAG} maybe", "value 'maybe' must be true, false or a percentage"),
        (f"feature set {FLAG} 25 --dev", "a percentage needs --actors"),
        (f"feature set {FLAG} 25 --actors --group=1", "they do not combine with"),
        (f"feature set {FLAG} <rollout-percentage> --actors", "still has a placeholder"),
    ],
)
def test_stateless_refusals_change_nothing(store: Store, text: str, message: str) -> None:
    run(store, f"feature set {FLAG} true --dev")
    assert_refused_and_unchanged(store, text, message)


def test_an_unknown_environment_in_the_command_is_refused(store: Store) -> None:
    command = FeatureCommand(verb="set", name=FLAG, value=True, environments=("qa",))
    with pytest.raises(Refusal, match="unknown environment qa"):
        execute(context(store), command)


def test_a_run_key_applies_a_command_once(store: Store) -> None:
    command = parse(f"feature set {FLAG} true --dev", ENVS)
    assert isinstance(command, FeatureCommand)
    first = execute(context(store), command, run_key="delivery-1:enable-dev")
    assert first.changes[0].changed
    run(store, f"feature set {FLAG} false --dev")  # someone changes it meanwhile
    with pytest.raises(AlreadyRun) as info:
        execute(context(store), command, run_key="delivery-1:enable-dev")
    assert info.value.result["environments"]["dev"]["after"]["state"] == "on"
    assert state(store, "dev") == FlagState()  # not applied a second time
