"""A ticked step runs only the command shape the bot recorded for it, end to end.

Through the fake GitLab and the real bot: a retyped step line is refused, its box
unticked, no flag changed, and the comment shows the step's command next to the
line and what differs; typed slots filled with the right type run; an issue opened
before shapes were recorded runs no command until `issue record-steps` binds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flags.definitions import own_definitions_root
from flags.state import FlagState
from gitlab_ops.schema import issue_renderings, metadata, rollout_issues, step_shapes
from rollout_bot.cli.issue import ALREADY_RECORDED, RECORDED
from templates.render import TEMPLATE_VERSION, IssueValues, issue_title, render_issue
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.test_bot_scope import OTHER, OTHER_DEFINITION
from webhook.step_checks import NO_RECORDED_SHAPE, NOT_THE_STEPS_COMMAND

ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")
NON_PRODUCTION = f"feature set {FLAG} true --dev --staging --staging-ref"
REFUSED_PREFIX = "refused, " + NOT_THE_STEPS_COMMAND.split("`")[0]


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[BotStack]:
    (tmp_path / "development").mkdir()
    (tmp_path / "development" / f"{OTHER}.yml").write_text(OTHER_DEFINITION)
    with bot_stack(database_url, definitions=(own_definitions_root(), tmp_path)) as running:
        yield running


def assert_nothing_changed(stack: BotStack) -> None:
    snapshot = stack.runtime.store.snapshot()
    for flag in (FLAG, OTHER, "no_such_flag"):
        assert [snapshot.get(env, flag) for env in ENVIRONMENTS] == [None] * 4
        assert stack.runtime.store.history(flag) == []


def retype_and_tick(stack: BotStack, editor: str, iid: int, step: str, old: str, new: str) -> str:
    stack.edit(getattr(stack, editor), iid, f"`/chatops run {old}`", f"`/chatops run {new}`")
    stack.wait_idle()
    stack.tick(stack.alice, iid, step)
    stack.wait_idle()
    return stack.bot_notes(iid)[-1]


TAMPERING = [
    pytest.param(
        "alice",
        "enable-non-production-command",
        NON_PRODUCTION,
        f"feature set {OTHER} true --dev --staging --staging-ref",
        f"the flag is `{OTHER}` where the step has `{FLAG}`",
        id="other-defined-flag",
    ),
    pytest.param(
        "alice",
        "enable-non-production-command",
        NON_PRODUCTION,
        "feature set no_such_flag true --dev --staging --staging-ref",
        f"the flag is `no_such_flag` where the step has `{FLAG}`",
        id="other-undefined-flag",
    ),
    pytest.param(
        "alice",
        "enable-non-production-command",
        NON_PRODUCTION,
        f"feature get {FLAG} --dev --staging --staging-ref",
        "the command is `feature get` where the step has `feature set`",
        id="other-verb",
    ),
    pytest.param(
        "alice",
        "enable-non-production-command",
        NON_PRODUCTION,
        f"{NON_PRODUCTION} --production",
        "environment `--production` was added",
        id="environment-added",
    ),
    pytest.param(
        "alice",
        "enable-non-production-command",
        NON_PRODUCTION,
        f"feature set {FLAG} true --dev --staging",
        "environment `--staging-ref` was removed",
        id="environment-removed",
    ),
    pytest.param(
        "alice",
        "rollout-actors-command",
        f"feature set {FLAG} <rollout-percentage> --actors",
        f"feature set {FLAG} 25 --actors --random",
        "option `--random` was added",
        id="option-added",
    ),
    pytest.param(
        "alice",
        "enable-production-command",
        f"feature set {FLAG} true",
        f"feature set {FLAG} true --group=gitlab-org",
        "--group `gitlab-org` was added",
        id="target-added",
    ),
    pytest.param(
        "alice",
        "enable-non-production-command",
        NON_PRODUCTION,
        f"feature set {FLAG} false --dev --staging --staging-ref",
        "the value is `false` where the step has `true`",
        id="value-flipped",
    ),
    pytest.param(
        "dave",
        "enable-production-command",
        f"feature set {FLAG} true",
        f"feature set {OTHER} true",
        f"the flag is `{OTHER}` where the step has `{FLAG}`",
        id="planted-by-a-developer-ticked-by-a-maintainer",
    ),
]


@pytest.mark.parametrize(("editor", "step", "old", "new", "difference"), TAMPERING)
def test_a_retyped_step_is_refused_unticked_and_changes_nothing(
    stack: BotStack, editor: str, step: str, old: str, new: str, difference: str
) -> None:
    iid = stack.open_issue()
    note = retype_and_tick(stack, editor, iid, step, old, new)
    # The step's own command next to what the line says, and what differs.
    assert REFUSED_PREFIX in note
    assert f"the step runs `/chatops run {old}`, the line says `/chatops run {new}`" in note
    assert difference in note
    assert not stack.checked(iid, step)
    assert_nothing_changed(stack)


def test_filled_slots_of_the_right_type_run(stack: BotStack) -> None:
    iid = stack.open_issue()
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    note = retype_and_tick(
        stack,
        "dave",
        iid,
        "rollout-random-command",
        f"feature set {FLAG} <rollout-percentage> --random",
        f"feature set {FLAG} 12.5 --random",
    )
    assert f"ran `/chatops run feature set {FLAG} 12.5 --random`" in note
    assert stack.state() == FlagState(percentage_of_time=12.5)

    note = retype_and_tick(
        stack,
        "dave",
        iid,
        "enable-user-actors-command",
        f"feature set --user=<your-username> {FLAG} true",
        f"feature set --user=alice,dave {FLAG} true",
    )
    assert f"ran `/chatops run feature set --user=alice,dave {FLAG} true`" in note
    state = stack.state()
    assert state is not None
    assert state.actors == frozenset({f"User:{stack.alice.id}", f"User:{stack.dave.id}"})
    assert stack.checked(iid, "enable-user-actors-command")


WRONG_TYPES = [
    pytest.param(
        "rollout-actors-command",
        f"feature set {FLAG} <rollout-percentage> --actors",
        f"feature set {FLAG} 25% --actors",
        "the value is the slot `<rollout-percentage>`, which takes a number from 0 to 100, "
        "but the line has `25%`",
        id="percent-sign",
    ),
    pytest.param(
        "rollout-actors-command",
        f"feature set {FLAG} <rollout-percentage> --actors",
        f"feature set {FLAG} abc --actors",
        "the value is the slot `<rollout-percentage>`, which takes a number from 0 to 100, "
        "but the line has `abc`",
        id="not-a-number",
    ),
    pytest.param(
        "deployed-non-production-command",
        "auto_deploy status <merge-commit-sha>",
        "auto_deploy status https://gitlab.com/gitlab-org/gitlab/-/commit/a6ddfcf7",
        "argument 1 is the slot `<merge-commit-sha>`, which takes a commit SHA",
        id="url-for-a-sha",
    ),
]


@pytest.mark.parametrize(("step", "old", "new", "difference"), WRONG_TYPES)
def test_a_slot_of_the_wrong_type_is_refused_with_the_slots_name(
    stack: BotStack, step: str, old: str, new: str, difference: str
) -> None:
    iid = stack.open_issue()
    note = retype_and_tick(stack, "alice", iid, step, old, new)
    assert REFUSED_PREFIX in note
    assert f"the step runs `/chatops run {old}`" in note  # the placeholder shown in code
    assert difference in note
    assert not stack.checked(iid, step)
    assert_nothing_changed(stack)


# --- issues opened before shapes were recorded ------------------------------------------


def open_the_old_way(stack: BotStack) -> int:
    """An issue as `issue create` made it before this change: its row, and no shapes."""
    description = render_issue(IssueValues(flag_name=FLAG))
    issue = stack.fake.create_issue_as(
        stack.bot, stack.project, issue_title(FLAG), description=description
    )
    with stack.runtime.engine.begin() as conn:
        conn.execute(
            sa.insert(rollout_issues).values(
                project_id=stack.project.id,
                issue_iid=issue.iid,
                flag=FLAG,
                web_url=f"{stack.fake.web_url}/gitlab-org/gitlab/-/issues/{issue.iid}",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return issue.iid


def recorded(stack: BotStack) -> tuple[list[Any], list[Any]]:
    with stack.runtime.engine.connect() as conn:
        renderings = conn.execute(sa.select(issue_renderings).order_by("issue_iid")).all()
        shapes = conn.execute(sa.select(step_shapes).order_by("issue_iid", "step")).all()
    return [tuple(r) for r in renderings], [tuple(s) for s in shapes]


def test_an_older_issue_runs_no_command_until_its_steps_are_recorded(stack: BotStack) -> None:
    iid = open_the_old_way(stack)
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    assert "refused, " + NO_RECORDED_SHAPE.split("`")[0] in stack.bot_notes(iid)[-1]
    assert not stack.checked(iid, "enable-non-production-command")
    assert_nothing_changed(stack)
    stack.tick(stack.dave, iid, "verify-non-production")  # no command: unaffected
    stack.wait_idle()
    assert "@dave confirmed **Verify that the feature works" in stack.bot_notes(iid)[-1]

    # A Developer retypes the production step before the steps are recorded.
    stack.edit(
        stack.dave,
        iid,
        f"`/chatops run feature set {FLAG} true`",
        f"`/chatops run feature set {OTHER} true`",
    )
    stack.wait_idle()
    out = stack.cli("issue", "record-steps")
    url = f"{stack.fake.web_url}/gitlab-org/gitlab/-/issues/{iid}"
    assert RECORDED.format(url=url, count=13) in out
    assert (
        "  enable-production-command: no command recorded, it runs nothing: the command is not "
        f"the template's `/chatops run feature set {FLAG} true`: the flag is `{OTHER}`" in out
    )
    first = recorded(stack)
    ((_, _, version, values, origin, _),) = first[0]
    assert (version, origin, values["flag_name"]) == (TEMPLATE_VERSION, "recovered", FLAG)
    assert len(first[1]) == 13

    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_idle()
    assert stack.state("dev") == FlagState(boolean=True)
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_idle()
    assert "refused, " + NO_RECORDED_SHAPE.split("`")[0] in stack.bot_notes(iid)[-1]
    assert stack.runtime.store.snapshot().get("production", OTHER) is None

    # Twice changes nothing, and still lists the step that runs nothing.
    again = stack.cli("issue", "record-steps")
    assert ALREADY_RECORDED.format(url=url) in again
    assert "  enable-production-command: no command recorded, it runs nothing\n" in again
    assert recorded(stack) == first


def test_issues_the_bot_opens_are_recorded_with_their_rendering(stack: BotStack) -> None:
    iid = stack.open_issue("--sha", "a6ddfcf7", "--dri", "nb")
    renderings, shapes = recorded(stack)
    ((project_id, issue_iid, version, values, origin, _),) = renderings
    assert (project_id, issue_iid, origin) == (stack.project.id, iid, "rendered")
    assert version == TEMPLATE_VERSION
    assert values["merge_commit_sha"] == "a6ddfcf7" and values["dri_username"] == "nb"
    assert len(shapes) == 14
    out = stack.cli("issue", "record-steps")
    assert (
        out
        == ALREADY_RECORDED.format(url=f"{stack.fake.web_url}/gitlab-org/gitlab/-/issues/{iid}")
        + "\n"
    )


def test_the_migrations_create_exactly_the_rollout_issue_tables(database_url: str) -> None:
    def ours(name: str | None, kind: str, parents: object) -> bool:
        return kind != "table" or name in metadata.tables

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": ours})
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diffs == []
