"""Telling a flag's rollout issue about a change made from a terminal.

The change is committed first; then a comment (who, source, each environment
before and after) and a state note refresh are queued in the database, leased
to this process, and posted at once. What GitLab does not take now stays
queued for the worker (`rollout-bot serve` or `worker` on the same database),
so GitLab being down loses nothing. Without a GitLab URL nothing is queued, and
the command says so once.
"""

from __future__ import annotations

import os
import socket

import click

from flags.results import Result
from gitlab_ops import issue_posting, issue_updates, issues
from gitlab_ops.client import GitLab
from gitlab_ops.retry import RetryPolicy
from rollout_bot.runtime import Runtime
from templates.state_note import change_comment

NO_GITLAB = (
    "note: no ROLLOUT_BOT_GITLAB_URL, so the rollout issue {url} was not told about this change"
)
QUEUED = "note: GitLab did not take the update of {url} now; it is queued and the worker posts it"
TERMINAL = "a terminal (`rollout-bot feature`)"
# Who reads the flag's state for the state note (reading records nothing).
STATE_NOTE_READER = "rollout-bot state note"


def retry_policy(runtime: Runtime) -> RetryPolicy:
    settings = runtime.settings
    return RetryPolicy(max_attempts=settings.max_attempts, base=settings.retry_base_seconds)


def tell_rollout_issue(runtime: Runtime, result: Result, who: str) -> None:
    """Comment the change on the flag's rollout issue and refresh its state note."""
    if not any(change.changed for change in result.changes):
        return
    flag = result.definitions[0].name
    located = issues.find_by_flag(runtime.engine, flag)
    if located is None:
        return
    project_id, iid, url = located
    settings = runtime.settings
    if not settings.gitlab_url:
        click.echo(NO_GITLAB.format(url=url), err=True)
        return
    key = issue_updates.new_key()
    body = change_comment(
        key,
        who=who,
        source=TERMINAL,
        flag=flag,
        command=result.command.text.strip(),
        changes=result.changes,
        instances=dict(result.instances),
    )
    post_now(runtime, project_id, iid, flag, url, body, key)


def post_now(
    runtime: Runtime, project_id: int, iid: int, flag: str, url: str, body: str, key: str
) -> None:
    """Queue a comment (its body carrying `update_marker(key)`) and a state note refresh,
    leased to this process, and post them at once; what GitLab does not take stays queued."""
    settings = runtime.settings
    assert settings.gitlab_url, "the caller checked ROLLOUT_BOT_GITLAB_URL"
    me = f"{socket.gethostname()}:{os.getpid()}:cli"
    leased = issue_updates.enqueue(
        runtime.engine,
        project_id,
        iid,
        flag,
        comment=body,
        comment_key=key,
        lease_to=me,
        lease=settings.lease_seconds,
    )
    if not leased:  # queued behind an earlier update of the issue: the worker's turn
        click.echo(QUEUED.format(url=url), err=True)
        return
    client = GitLab(settings.gitlab_url, settings.gitlab_token)
    context = runtime.context(who=STATE_NOTE_READER, source=STATE_NOTE_READER)
    policy = retry_policy(runtime)
    if not issue_posting.deliver_leased(runtime.engine, client, leased, me, context, policy):
        click.echo(QUEUED.format(url=url), err=True)
