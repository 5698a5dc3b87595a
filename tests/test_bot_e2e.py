"""End to end: ticking boxes in the fake GitLab changes flags and answers in the issue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flags.state import FlagState
from tests.bot_stack import DASHBOARD_AUTH, FLAG, BotStack, bot_stack


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url) as running:
        yield running


def test_ticking_the_non_production_enable_turns_the_flag_on(stack: BotStack) -> None:
    iid = stack.open_issue("--dri", "nbelokolodov", "--sha", "a6ddfcf7")
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    for environment in ("dev", "staging", "staging-ref"):
        assert stack.state(environment) == FlagState(boolean=True)
    assert stack.state("production") is None
    (note,) = stack.bot_notes(iid)
    assert "@alice ticked **Enable the feature globally on non-production environments.**" in note
    assert "| staging | off (default) | on | boolean: false → true |" in note
    assert stack.checked(iid, "enable-non-production-command")
    rows = stack.runtime.store.history(FLAG)
    assert {(r.who, r.source) for r in rows} == {("alice", "gitlab-org/gitlab#1")}
    # Who, stably (the id survives a rename), from which delivery, running what.
    assert {r.user_id for r in rows} == {stack.alice.id}
    (delivery,) = {r.delivery for r in rows}
    assert delivery and delivery in note
    assert {r.command for r in rows} == {f"feature set {FLAG} true --dev --staging --staging-ref"}


def test_a_placeholder_is_refused_then_the_edited_command_runs(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    stack.tick(stack.alice, iid, "rollout-actors-command")
    stack.wait_idle()
    assert stack.state("production") is None
    assert not stack.checked(iid, "rollout-actors-command")
    refusal = stack.bot_notes(iid)[-1]
    assert "refused, the command still has a placeholder: replace `<rollout-percentage>`" in refusal
    assert "The box was unticked again" in refusal

    stack.edit(
        stack.alice,
        iid,
        f"feature set {FLAG} <rollout-percentage> --actors",
        f"feature set {FLAG} 25 --actors",
    )
    stack.tick(stack.alice, iid, "rollout-actors-command")
    stack.wait_idle()
    assert stack.state("production") == FlagState(percentage_of_actors=25)
    assert (
        "| production | off (default) | conditional | percentage_of_actors: 0% → 25% |"
        in (stack.bot_notes(iid)[-1])
    )
    assert stack.checked(iid, "rollout-actors-command")


def test_production_enable_while_staging_is_off_is_refused(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_idle()
    assert stack.state("production") is None
    assert not stack.checked(iid, "enable-production-command")
    assert "consistency check: " in stack.bot_notes(iid)[-1]


def test_a_developer_cannot_flip_production(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    stack.tick(stack.dave, iid, "enable-production-command")
    stack.wait_idle()
    assert stack.state("production") is None
    assert not stack.checked(iid, "enable-production-command")
    note = stack.bot_notes(iid)[-1]
    assert "@dave has Developer access; changing production needs Maintainer or higher" in note
    # Non-production is a Developer's to change.
    stack.tick(stack.dave, iid, "enable-non-production-command", checked=False)
    stack.wait_idle()
    assert "@dave unticked" in stack.bot_notes(iid)[-1]
    assert stack.state("staging") == FlagState(boolean=True)  # unticking changes no flag


def test_a_step_without_a_command_is_acknowledged(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.dave, iid, "verify-non-production")
    stack.wait_idle()
    assert (
        "@dave confirmed **Verify that the feature works as expected." in (stack.bot_notes(iid)[-1])
    )
    assert stack.checked(iid, "verify-non-production")


def test_the_rollback_step_disables_the_flag(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_idle()
    assert stack.state("production") == FlagState(boolean=True)
    stack.tick(stack.alice, iid, "rollback")
    stack.wait_idle()
    assert stack.state("production") == FlagState()
    assert f"ran `/chatops run feature set {FLAG} false`" in stack.bot_notes(iid)[-1]


def test_a_comment_command_runs_and_is_answered(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.fake.add_note_as(
        stack.alice, stack.project, iid, f"/chatops run feature set {FLAG} true --dev\nplease"
    )
    stack.wait_idle()
    assert stack.state("dev") == FlagState(boolean=True)
    assert f"@alice ran `/chatops run feature set {FLAG} true --dev`" in stack.bot_notes(iid)[-1]
    stack.fake.add_note_as(stack.dave, stack.project, iid, f"/chatops run feature set {FLAG} true")
    stack.wait_idle()
    assert "needs Maintainer" in stack.bot_notes(iid)[-1]
    assert stack.state("production") is None


def test_the_bot_sends_the_event_uuid_back_and_gets_no_echo(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "rollout-actors-command")  # refused: unticked by the bot
    stack.wait_idle()
    (tick,) = [
        d
        for d in stack.fake.deliveries
        if d.headers.get("X-Gitlab-Event") == "Issue Hook"
        and d.payload.get("object_attributes", {}).get("action") == "update"
    ]
    uuid = tick.headers["X-Gitlab-Event-UUID"]
    bot_calls = [
        r for r in stack.fake.requests if r.method in ("POST", "PUT") and "/issues/" in r.path
    ]
    assert bot_calls and all(r.headers.get("X-Gitlab-Event-UUID") == uuid for r in bot_calls)
    assert stack.fake.blocked_deliveries  # the untick and the comment were not echoed


def test_actor_steps_resolve_paths_through_gitlab(stack: BotStack) -> None:
    other = stack.new_project("gitlab-foss")
    iid = stack.open_issue(
        "--actor-project",
        "gitlab-org/gitlab",
        "--actor-project",
        "gitlab-org/gitlab-foss",
        "--actor-group",
        "gitlab-org",
        "--actor-group",
        "gitlab-com",
    )
    stack.tick(stack.alice, iid, "enable-project-actors-command")
    stack.wait_idle()
    assert stack.state() == FlagState(
        actors=frozenset({f"Project:{stack.project.id}", f"Project:{other.id}"})
    )
    stack.tick(stack.alice, iid, "enable-group-actors-command")
    stack.wait_idle()
    assert "group=gitlab-com: not found on GitLab" in stack.bot_notes(iid)[-1]
    assert not stack.checked(iid, "enable-group-actors-command")


def test_the_cli_resolves_paths_when_gitlab_is_configured(stack: BotStack) -> None:
    out = stack.cli("feature", "set", "--group=gitlab-org", FLAG, "true", "--dev", "--json")
    group_id = stack.fake.state.group("gitlab-org").id
    assert f"Group:{group_id}" in out
    assert stack.state("dev") == FlagState(actors=frozenset({f"Group:{group_id}"}))


def test_a_box_unticked_before_the_worker_reads_it_does_nothing(database_url: str) -> None:
    with bot_stack(database_url, start_worker=False) as stack:
        iid = stack.open_issue()
        stack.tick(stack.alice, iid, "enable-non-production-command")
        stack.tick(stack.alice, iid, "enable-non-production-command", checked=False)
        stack.drain()
        assert stack.state("dev") is None
        first, second = stack.bot_notes(iid)
        assert "the box was no longer ticked when the bot read the issue" in first
        assert "@alice unticked" in second


def test_metrics_and_dashboard(stack: BotStack) -> None:
    import requests

    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    base = stack.servers[0].url
    metrics = requests.get(f"{base}/metrics", headers=DASHBOARD_AUTH, timeout=10)
    assert metrics.status_code == 200
    assert 'rollout_bot_inbox_deliveries{status="done"} 1.0' in metrics.text
    assert 'rollout_bot_inbox_deliveries{status="failed"} 0.0' in metrics.text
    page = requests.get(f"{base}/", headers=DASHBOARD_AUTH, timeout=10)
    assert page.status_code == 200
    issue_url = stack.fake.issue_json(stack.project, iid)["web_url"]
    assert f'<a href="{issue_url}">' in page.text
    flags = requests.get(f"{base}/api/flags", headers=DASHBOARD_AUTH, timeout=10).json()
    (row,) = [row for row in flags["flags"] if row["name"] == FLAG]
    assert {env: state["state"] for env, state in row["states"].items()} == {
        "dev": "on",
        "staging": "on",
        "staging-ref": "on",
        "production": "off",
    }
    assert row["rollout_issue_url"] == issue_url
