"""Looking for the bot's marker among an issue's notes costs the same on an issue with a
long history: newest first, at most `MARKER_LOOK_PAGES` pages, the bound logged when hit."""

from __future__ import annotations

import logging

import pytest

from gitlab_ops.client import MARKER_LOOK_PAGES, NOTES_PER_PAGE, GitLab
from tests.fake_gitlab import MAINTAINER, FakeGitLab
from tests.fake_gitlab.state import Issue, User

MARKER = "<!-- rollout-bot:update=abc -->"
NOTES = r"/issues/\d+/notes$"
BOUND = MARKER_LOOK_PAGES * NOTES_PER_PAGE


def _issue(fake: FakeGitLab) -> tuple[Issue, User, User]:
    group = fake.create_group("gitlab-org")
    project = fake.create_project(group, "gitlab")
    bot, alice = fake.create_user("rollout-bot"), fake.create_user("alice")
    fake.add_member(group, bot, MAINTAINER)
    fake.add_member(group, alice, MAINTAINER)
    issue = fake.create_issue_as(alice, project, "Rollout", description="- [ ] a step")
    return issue, bot, alice


def _chatter(fake: FakeGitLab, issue: Issue, author: User, count: int) -> None:
    for n in range(count):
        fake.state.create_note(issue, author, f"comment {n}")


def test_a_marker_among_the_newest_notes_takes_one_request(fake_gitlab: FakeGitLab) -> None:
    issue, bot, alice = _issue(fake_gitlab)
    _chatter(fake_gitlab, issue, alice, BOUND + 50)
    fake_gitlab.state.create_note(issue, bot, f"{MARKER}\nposted")
    client = GitLab(fake_gitlab.url, bot.token)
    before = len(fake_gitlab.requests_to("GET", NOTES))
    assert client.has_note_containing(issue.project_id, issue.iid, MARKER)
    listed = fake_gitlab.requests_to("GET", NOTES)[before:]
    assert len(listed) == 1
    assert listed[0].query["sort"] == "desc" and listed[0].query["order_by"] == "created_at"


def test_a_marker_older_than_the_bound_is_not_seen_and_the_bound_is_logged(
    fake_gitlab: FakeGitLab, caplog: pytest.LogCaptureFixture
) -> None:
    issue, bot, alice = _issue(fake_gitlab)
    fake_gitlab.state.create_note(issue, bot, f"{MARKER}\nposted long ago")
    _chatter(fake_gitlab, issue, alice, BOUND)
    client = GitLab(fake_gitlab.url, bot.token)
    before = len(fake_gitlab.requests_to("GET", NOTES))
    with caplog.at_level(logging.WARNING, logger="gitlab_ops.client"):
        assert not client.has_note_containing(issue.project_id, issue.iid, MARKER)
        assert client.own_note_containing(issue.project_id, issue.iid, MARKER) is None
    assert len(fake_gitlab.requests_to("GET", NOTES)) - before == 2 * MARKER_LOOK_PAGES
    bounds = [r for r in caplog.records if f"newest {BOUND} notes" in r.getMessage()]
    assert len(bounds) == 2


def test_own_note_is_the_newest_of_the_bots_own(fake_gitlab: FakeGitLab) -> None:
    issue, bot, alice = _issue(fake_gitlab)
    fake_gitlab.state.create_note(issue, alice, f"quoting {MARKER}")
    own = fake_gitlab.state.create_note(issue, bot, f"{MARKER}\nstate")
    fake_gitlab.state.create_note(issue, alice, f"quoting {MARKER} again")
    _chatter(fake_gitlab, issue, alice, 20)
    client = GitLab(fake_gitlab.url, bot.token)
    assert client.own_note_containing(issue.project_id, issue.iid, MARKER) == (own.id, own.body)
    # A short history ends the look at its first, short page: no bound, nothing logged.
    assert client.recent_note_containing(issue.project_id, issue.iid, "comment 19") is not None
