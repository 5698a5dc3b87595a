"""End to end: adopting hand-made rollout issues, then ticking their steps.

Through the fake GitLab and the real webhook, inbox and workers: `rollout-bot issue
adopt ISSUE_URL` and the comment `/rollout-bot adopt` mark the steps (and nothing
else), record ticked boxes as done without running them, list the command naming
another flag, post the state note; a tick afterwards runs like one on an issue the
bot opened, and the foreign command never runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from flags.state import FlagState
from gitlab_ops.adoption import BAD_URL, NOT_A_ROLLOUT_TITLE
from rollout_bot.cli import main
from rollout_bot.cli.issue import ALREADY
from templates.adoption import adopt
from templates.adoption_report import ALREADY_ADOPTED
from templates.render import issue_title
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.fake_gitlab.models import REPORTER
from webhook.adopt_command import NEEDS_DEVELOPER

FIXTURES = Path(__file__).parent / "fixtures" / "adoption"
MARKER = re.compile(r"<!-- step:[a-z0-9-]+ --> ")
ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")


@pytest.fixture
def stack(database_url: str) -> Iterator[BotStack]:
    with bot_stack(database_url) as running:
        yield running


def hand_made(stack: BotStack, version: str, title: str = issue_title(FLAG)) -> int:
    text = (FIXTURES / f"{version}.md").read_bytes().decode("utf-8")
    issue = stack.fake.create_issue_as(stack.alice, stack.project, title, description=text)
    stack.wait_idle()
    return issue.iid


def url(stack: BotStack, iid: int) -> str:
    return f"{stack.fake.web_url}/gitlab-org/gitlab/-/issues/{iid}"


def original(version: str) -> str:
    return (FIXTURES / f"{version}.md").read_bytes().decode("utf-8")


def nothing_set(stack: BotStack) -> bool:
    return all(stack.state(env) is None for env in ENVIRONMENTS)


def test_the_cli_adopts_the_seeds_issue_and_a_tick_then_runs(stack: BotStack) -> None:
    iid = hand_made(stack, "seed")
    out = stack.cli("issue", "adopt", url(stack, iid))
    assert out.startswith(f"{url(stack, iid)}: adopted for `{FLAG}`: 50 step(s) marked, 4 already")
    assert "line 37: /chatops run feature set --group=gitlab-org,gitlab-com snowplow" in out
    stack.wait_updates()
    description = stack.description(iid)
    assert MARKER.sub("", description) == original("seed")
    # Ticked boxes are recorded as done, not run: nothing was set anywhere.
    assert nothing_set(stack)
    assert stack.checked(iid, "enable-non-production-command")
    (comment,) = stack.bot_notes(iid)
    assert "Already ticked, so recorded as done and **not run**" in comment
    assert "line 37: `/chatops run feature set --group=gitlab-org,gitlab-com " in comment
    assert "names the flag `snowplow_tracking_experiments`, not this issue's" in comment
    (state_note,) = stack.state_notes(iid)
    assert "| production | off (default) |" in state_note

    # Unticking a done step changes nothing; ticking it again runs it, as on any issue.
    stack.tick(stack.alice, iid, "enable-non-production-command", checked=False)
    stack.wait_idle()
    assert nothing_set(stack)
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    for environment in ("dev", "staging", "staging-ref"):
        assert stack.state(environment) == FlagState(boolean=True)
    assert "| staging | off (default) | on | boolean: false → true |" in stack.bot_notes(iid)[-1]
    assert "| staging | on |" in stack.state_notes(iid)[0]


def test_a_developers_comment_adopts_an_older_issue_and_its_own_lines_run(
    stack: BotStack,
) -> None:
    iid = hand_made(stack, "older")
    stack.fake.add_note_as(stack.dave, stack.project, iid, "/rollout-bot adopt")
    stack.wait_updates()
    assert MARKER.sub("", stack.description(iid)) == original("older")
    answer = stack.bot_notes(iid)[-1]
    assert answer.splitlines()[1].startswith(":clipboard: @dave made this issue")
    assert (
        "line 75: `/chatops run feature delete snowplow_tracking_experiments --staging`" in answer
    )
    assert "rollback" in answer  # its command sits below the list item: it cannot run
    assert nothing_set(stack)

    stack.tick(stack.alice, iid, "enable-staging-command")
    stack.wait_updates()
    assert stack.state("staging") == FlagState(boolean=True)
    assert stack.state("dev") is None  # ticked before adoption: done, never run

    # The foreign command has no marker: ticking it is no step, so nothing runs.
    before = len(stack.bot_notes(iid))
    stack.edit(
        stack.alice,
        iid,
        "- [ ] `/chatops run feature delete snowplow_tracking_experiments --staging`",
        "- [x] `/chatops run feature delete snowplow_tracking_experiments --staging`",
    )
    stack.wait_updates()
    assert len(stack.bot_notes(iid)) == before
    assert stack.state("staging") == FlagState(boolean=True)


def test_adopting_twice_changes_nothing(stack: BotStack) -> None:
    iid = hand_made(stack, "current")
    stack.cli("issue", "adopt", url(stack, iid))
    stack.wait_updates()
    adopted = stack.description(iid)
    edits = len(stack.fake.requests_to("PUT", rf"/issues/{iid}$"))
    comments = stack.bot_notes(iid)

    again = stack.cli("issue", "adopt", url(stack, iid))
    assert again == ALREADY.format(url=url(stack, iid), flag=FLAG) + "\n"
    stack.fake.add_note_as(stack.alice, stack.project, iid, "`/rollout-bot adopt`")
    stack.wait_updates()
    assert stack.description(iid) == adopted
    assert len(stack.fake.requests_to("PUT", rf"/issues/{iid}$")) == edits
    assert stack.bot_notes(iid)[:-1] == comments
    assert ALREADY_ADOPTED.format(who="@alice", flag=FLAG) in stack.bot_notes(iid)[-1]


def test_a_reporter_cannot_adopt(stack: BotStack) -> None:
    rita = stack.fake.create_user("rita")
    stack.fake.add_member(stack.fake.state.group("gitlab-org"), rita, REPORTER)
    iid = hand_made(stack, "seed")
    stack.fake.add_note_as(rita, stack.project, iid, "/rollout-bot adopt")
    stack.wait_updates()
    assert stack.description(iid) == original("seed")
    (answer,) = stack.bot_notes(iid)
    reason = NEEDS_DEVELOPER.format(user="rita", level="Reporter", needed="Developer")
    assert answer.splitlines()[1] == f":no_entry: {reason}"
    assert stack.state_notes(iid) == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Roll out tracking", NOT_A_ROLLOUT_TITLE.format(title="Roll out tracking")),
        (issue_title("no_such_flag"), "flag 'no_such_flag' is not defined"),
    ],
)
def test_an_issue_without_a_defined_flag_is_refused_unchanged(
    stack: BotStack, title: str, expected: str
) -> None:
    iid = hand_made(stack, "seed", title=title)
    result = CliRunner(env=stack.env).invoke(main, ["issue", "adopt", url(stack, iid)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {expected}")
    assert len(result.stderr.splitlines()) == 1
    stack.fake.add_note_as(stack.dave, stack.project, iid, "/rollout-bot adopt")
    stack.wait_updates()
    assert stack.description(iid) == original("seed")
    (answer,) = stack.bot_notes(iid)
    assert "`/rollout-bot adopt` was refused: " + expected in answer
    assert stack.runtime.store.history(FLAG) == []


def test_a_url_that_names_no_issue_is_refused(stack: BotStack) -> None:
    bad = f"{stack.fake.web_url}/gitlab-org/gitlab/-/merge_requests/3"
    result = CliRunner(env=stack.env).invoke(main, ["issue", "adopt", bad])
    assert (result.exit_code, result.stderr) == (1, f"error: {BAD_URL.format(url=bad)}\n")


def test_markers_written_before_a_crash_are_kept_and_the_issue_recorded(stack: BotStack) -> None:
    # The bot wrote the markers and died before recording the issue: a new attempt
    # recognises them as its own, writes nothing, and records the issue.
    iid = hand_made(stack, "seed")
    marked = adopt(FLAG, original("seed"), ENVIRONMENTS).text
    stack.fake.edit_issue_as(stack.bot, stack.project, iid, description=marked)
    stack.wait_idle()
    edits = len(stack.fake.requests_to("PUT", rf"/issues/{iid}$"))
    out = stack.cli("issue", "adopt", url(stack, iid))
    assert ": adopted for " in out
    assert stack.description(iid) == marked
    assert len(stack.fake.requests_to("PUT", rf"/issues/{iid}$")) == edits
    stack.tick(stack.alice, iid, "enable-non-production-command", checked=False)
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    assert stack.state("dev") == FlagState(boolean=True)


def test_gitlab_refusing_the_edit_is_answered_and_nothing_recorded(stack: BotStack) -> None:
    iid = hand_made(stack, "seed")
    stack.fake.fail_next(1, 403, method="PUT", path=rf"/issues/{iid}$")
    stack.fake.add_note_as(stack.dave, stack.project, iid, "/rollout-bot adopt")
    stack.wait_updates()
    assert stack.description(iid) == original("seed")
    (answer,) = stack.bot_notes(iid)
    assert "`/rollout-bot adopt` was refused: editing issue" in answer
    assert "GitLab answered 403" in answer
    assert stack.state_notes(iid) == []
    # Asked again once GitLab takes the edit, it adopts.
    stack.fake.add_note_as(stack.dave, stack.project, iid, "/rollout-bot adopt")
    stack.wait_updates()
    assert MARKER.sub("", stack.description(iid)) == original("seed")
    assert ":clipboard: @dave made this issue" in stack.bot_notes(iid)[-1]


def test_a_timeout_while_adopting_is_retried_and_answered_once(stack: BotStack) -> None:
    iid = hand_made(stack, "current")
    stack.fake.fail_next(2, 503, method="PUT", path=rf"/issues/{iid}$")
    stack.fake.add_note_as(stack.alice, stack.project, iid, "/rollout-bot adopt")
    stack.wait_updates()
    assert MARKER.sub("", stack.description(iid)) == original("current")
    (answer,) = stack.bot_notes(iid)
    assert ":clipboard: @alice made this issue" in answer
    assert len(stack.state_notes(iid)) == 1
