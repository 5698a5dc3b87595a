"""webhook.untick against the fake GitLab over real HTTP: every way an untick ends.

The unit tests drive `Unticker` and `settle` with a python-gitlab client talking to
the fake; `tests/test_bot_untick.py` drives the same through the bot.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from flags.memory_store import MemoryStore
from gitlab_ops.client import GitLab
from gitlab_ops.errors import TransientGitLabError
from tests.fake_gitlab import FakeGitLab
from tests.fake_gitlab.models import MAINTAINER, Project, User
from webhook.inbox import Delivery
from webhook.step_outcome import StepOutcome
from webhook.untick import (
    ALREADY_UNTICKED,
    AMBIGUOUS,
    KEPT_CHANGING,
    STEP_NOT_FOUND,
    TICKED_AGAIN,
    UNTICK_ATTEMPTS,
    Unticker,
    UntickReport,
    settle,
    ticked_again,
)

TICKED = (
    "# Steps\r\n\r\n"
    "- [x] <!-- step:a --> `/chatops run feature get f`\r\n"
    "- [x] <!-- step:b --> b\r\n"
)
UNTICKED_A = TICKED.replace("[x] <!-- step:a", "[ ] <!-- step:a")


@dataclass
class Issue:
    fake: FakeGitLab
    project: Project
    person: User
    iid: int
    client: GitLab

    def description(self) -> str:
        return self.fake.issue(self.project, self.iid).description or ""

    def edit(self, description: str) -> None:
        self.fake.edit_issue_as(self.person, self.project, self.iid, description=description)

    def unticker(self, later: list[Delivery] | None = None) -> Unticker:
        return Unticker(self.client, self.project.id, self.iid, lambda: later or [])

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path.rsplit("/", 1)[-1]) for r in self.fake.requests]


@pytest.fixture
def issue() -> Iterator[Issue]:
    with FakeGitLab() as fake:
        org = fake.create_group("gitlab-org")
        project = fake.create_project(org, "gitlab")
        bot = fake.create_user("rollout-bot")
        person = fake.create_user("alice")
        fake.add_member(org, bot, MAINTAINER)
        fake.add_member(org, person, MAINTAINER)
        made = fake.create_issue_as(person, project, "Rollout", description=TICKED)
        yield Issue(fake, project, person, made.iid, GitLab(fake.url, bot.token))


def later_delivery(previous: str, current: str, n: int = 1) -> Delivery:
    """A delivery queued after ours, as the inbox hands it back."""
    payload: dict[str, Any] = {
        "object_kind": "issue",
        "object_attributes": {"action": "update", "iid": 1},
        "changes": {"description": {"previous": previous, "current": current}},
    }
    now = dt.datetime.now(dt.UTC)
    return Delivery(
        n, f"later-{n}", "Issue Hook", 1, 1, None, payload, "pending", 0, now, None, None
    )


def test_an_untick_reads_writes_at_once_and_checks(issue: Issue) -> None:
    assert issue.unticker().untick("a") == UntickReport(True)
    assert issue.description() == UNTICKED_A  # one character, CRLF kept
    # The lost-update window: nothing between the read and the write.
    assert issue.calls() == [("GET", "1"), ("PUT", "1"), ("GET", "1")]


def test_an_unticked_box_is_reported_and_not_written(issue: Issue) -> None:
    issue.edit(UNTICKED_A)
    assert issue.unticker().untick("a") == UntickReport(False, ALREADY_UNTICKED)
    assert issue.calls() == [("GET", "1")]


def test_a_deleted_step_is_reported(issue: Issue) -> None:
    issue.edit(TICKED.replace("<!-- step:a --> ", ""))
    assert issue.unticker().untick("a") == UntickReport(False, STEP_NOT_FOUND)


def test_a_marker_on_two_tasks_flips_no_box(issue: Issue) -> None:
    copied = TICKED + "\r\n<details><summary>x</summary>\r\n\r\n- [x] <!-- step:a --> copy\r\n"
    issue.edit(copied)
    report = issue.unticker().untick("a")
    assert report == UntickReport(False, AMBIGUOUS.format(count=2, lines="3, 8"))
    assert report.why == "2 tasks carry its marker (lines 3, 8), so the bot cannot tell which " + (
        "box is the step's"
    )
    assert issue.description() == copied
    assert ("PUT", "1") not in issue.calls()


def test_gitlab_refusing_the_edit_is_reported_and_a_passing_failure_retries(issue: Issue) -> None:
    issue.fake.fail_next(1, 403, method="PUT", path=r"/issues/\d+$")
    report = issue.unticker().untick("a")
    assert not report.done and report.why is not None
    assert report.why.startswith("GitLab refused the edit (editing issue")
    assert "GitLab answered 403" in report.why
    issue.fake.fail_next(1, 503, method="PUT", path=r"/issues/\d+$")
    with pytest.raises(TransientGitLabError):
        issue.unticker().untick("a")
    assert issue.description() == TICKED


def test_a_later_delivery_ticking_the_box_again_leaves_it(issue: Issue) -> None:
    retick = later_delivery(UNTICKED_A, TICKED)
    untick_b = later_delivery(TICKED, TICKED.replace("[x] <!-- step:b", "[ ] <!-- step:b"), 2)
    assert ticked_again([retick], "a") and not ticked_again([retick], "b")
    assert not ticked_again([untick_b], "a") and not ticked_again([], "a")
    assert issue.unticker([untick_b, retick]).untick("a") == UntickReport(False, TICKED_AGAIN)
    assert issue.calls() == []  # decided before reading: the box is the person's again
    assert issue.description() == TICKED


def test_an_issue_that_keeps_changing_is_given_up(issue: Issue) -> None:
    """Someone re-ticks every time right after the write: the bot stops after N attempts."""
    issue.fake.delay(0.3, 4 * UNTICK_ATTEMPTS, method="GET", path=r"/issues/\d+$")
    done = threading.Event()

    def person() -> None:
        seen = 0
        while not done.is_set():
            writes = len(issue.fake.requests_to("PUT", r"/issues/\d+$"))
            if writes > seen and "[ ] <!-- step:a" in issue.description():
                seen = writes
                issue.edit(TICKED)
            done.wait(0.01)

    thread = threading.Thread(target=person)
    thread.start()
    try:
        report = issue.unticker().untick("a")
    finally:
        done.set()
        thread.join()
    assert report == UntickReport(False, KEPT_CHANGING.format(attempts=UNTICK_ATTEMPTS))
    assert len(issue.fake.requests_to("PUT", r"/issues/\d+$")) == UNTICK_ATTEMPTS


def test_settle_unticks_refused_steps_once_and_replays_the_result(issue: Issue) -> None:
    store = MemoryStore()
    refused = StepOutcome("refused", "a", "A", reason="no")
    applied = StepOutcome("applied", "b", "B")
    first = settle([refused, applied], issue.unticker(), store, "delivery-1")
    assert first == [StepOutcome("refused", "a", "A", reason="no", unticked=True), applied]
    assert issue.description() == UNTICKED_A

    # A retry of the same delivery (after a crash) replays; it neither reads nor writes.
    issue.edit(TICKED)
    calls = len(issue.fake.requests)
    assert settle([refused, applied], issue.unticker(), store, "delivery-1") == first
    assert len(issue.fake.requests) == calls
    assert issue.description() == TICKED
    # Another delivery is another untick.
    (again,) = settle([refused], issue.unticker(), store, "delivery-2")
    assert (again.unticked, again.untick_why) == (True, None)
