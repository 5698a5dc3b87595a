"""Posting one queued issue update to GitLab, safe to repeat, with the retry bound.

A comment carries its update's hidden marker and is posted only if none of the
issue's newest notes has it (a bounded look, `GitLab.has_note_containing`). A
state note refresh renders the flag's state as `feature get` reads it at posting
time, finds the bot's own note by its marker among the newest notes (creating it
the first time, or again if a person deleted it or it sank past the look) and
edits it only if its text differs, so a repeated refresh writes nothing.

Retries are the queue's, as the inbox's are: a `Retry-After` GitLab sent is waited
out (capped, `gitlab_ops.retry.delay_after`) as one attempt, and the lease is
renewed while an update is posted and checked before each GitLab write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from flags.commands import Context, execute
from flags.errors import Refusal
from flags.grammar import parse
from flags.results import EnvironmentState
from flags.state import OFF
from flags.store import instance_of
from gitlab_ops import issue_updates, lease
from gitlab_ops.client import GitLab
from gitlab_ops.errors import GitLabError, TransientGitLabError
from gitlab_ops.issue_updates import IssueUpdate
from gitlab_ops.lease import Lease, LeaseLost
from gitlab_ops.retry import RetryLater, RetryPolicy, delay_after
from templates.state_note import STATE_NOTE_MARKER, state_note, update_marker

log = logging.getLogger(__name__)

POSTED = "posted"
RETRYING = "retrying"
FAILED = "failed"
LOST = "lease lost"


def current_state(ctx: Context, flag: str) -> tuple[tuple[EnvironmentState, ...], bool]:
    """Every environment's state exactly as `feature get FLAG` shows it, and whether the
    flag is still defined; once its definition is gone (cleaned up), the stored state."""
    try:
        result = execute(ctx, parse(f"feature get {flag}", ctx.environments))
    except Refusal:
        snapshot = ctx.store.snapshot()
        states = []
        for env in ctx.environments:
            stored = snapshot.get(env, flag)
            states.append(EnvironmentState(env, OFF if stored is None else stored, stored is None))
        return tuple(states), False
    return result.states[0][1], True


def render_state_note(ctx: Context, flag: str) -> str:
    states, defined = current_state(ctx, flag)
    named = ((env, instance_of(ctx.store, env)) for env in ctx.environments)
    instances = {env: instance for env, instance in named if instance is not None}
    return state_note(flag, states, defined=defined, instances=instances)


def post(client: GitLab, update: IssueUpdate, ctx: Context) -> None:
    """Make GitLab show the update; raises GitLabError (TransientGitLabError: try later),
    or `LeaseLost` right before a write when another worker took the update over."""
    project_id, iid = update.project_id, update.issue_iid
    if update.kind == issue_updates.COMMENT:
        assert update.body is not None
        marker = update_marker(update.key)
        if not client.has_note_containing(project_id, iid, marker):
            body = update.body if marker in update.body else f"{marker}\n{update.body}"
            lease.guard()
            client.create_note(project_id, iid, body)
        return
    body = render_state_note(ctx, update.flag)
    found = client.own_note_containing(project_id, iid, STATE_NOTE_MARKER)
    if found is None:
        lease.guard()
        client.create_note(project_id, iid, body)
    elif found[1].strip() != body.strip():
        lease.guard()
        client.update_note(project_id, iid, found[0], body)


def deliver(
    engine: Engine,
    client: GitLab,
    update: IssueUpdate,
    worker: str,
    ctx: Context,
    policy: RetryPolicy,
    *,
    lease_seconds: float = issue_updates.DEFAULT_LEASE,
) -> str:
    """Post a claimed update and settle it: done, retried later with backoff, or failed
    (GitLab refused it for good, or the attempt numbered `policy.max_attempts` failed).

    The lease is renewed while it posts, as a delivery's is (`gitlab_ops.lease`): a
    worker that lost it stops before its next GitLab write and settles nothing.
    """
    held = Lease(
        lambda: issue_updates.renew(engine, update.id, worker, lease=lease_seconds),
        every=lease_seconds / 3,
    )
    with held.held():
        try:
            post(client, update, ctx)
        except LeaseLost:
            log.warning("issue update %s: lease lost, left to its new owner", update.id)
            return LOST
        except GitLabError as exc:
            if isinstance(exc, TransientGitLabError):
                return _retry_or_fail(engine, update, worker, policy, exc)
            log.warning("issue update %s failed: %s", update.id, exc)
            return _settled(issue_updates.fail(engine, update.id, worker, error=str(exc)), FAILED)
        except Exception as exc:
            # The top of this queue: log, and let the bound end an update that always raises.
            log.exception("issue update %s raised", update.id)
            return _retry_or_fail(engine, update, worker, policy, exc)
        return _settled(issue_updates.complete(engine, update.id, worker), POSTED)


def _settled(owned: bool, status: str) -> str:
    # A lease taken over after the last write: the new owner settles it (what it posts
    # is keyed by the update's marker, so it finds the note instead of posting again).
    return status if owned else LOST


def _retry_or_fail(
    engine: Engine, update: IssueUpdate, worker: str, policy: RetryPolicy, exc: Exception
) -> str:
    error = str(exc) if isinstance(exc, GitLabError) else f"{type(exc).__name__}: {exc}"
    if update.attempts >= policy.max_attempts:
        log.warning("issue update %s failed at the attempt bound: %s", update.id, error)
        return _settled(issue_updates.fail(engine, update.id, worker, error=error), FAILED)
    delay = policy.delay(update.attempts)
    if isinstance(exc, RetryLater):
        delay = delay_after(exc.retry_after, delay)
    log.info("issue update %s: %s; retrying in %.1fs", update.id, error, delay)
    rescheduled = issue_updates.reschedule(engine, update.id, worker, error=error, delay=delay)
    return _settled(rescheduled, RETRYING)


def deliver_leased(
    engine: Engine,
    client: GitLab,
    leased: Sequence[IssueUpdate],
    worker: str,
    ctx: Context,
    policy: RetryPolicy,
) -> bool:
    """Post updates leased at enqueue time, in order; True when all were posted.

    After the first one that does not post, the rest go back to the queue at
    once: the claim order keeps them behind it, and a worker posts them.
    """
    for n, update in enumerate(leased):
        if deliver(engine, client, update, worker, ctx, policy) != POSTED:
            release(engine, leased[n + 1 :], worker)
            return False
    return True


def release(engine: Engine, leased: Sequence[IssueUpdate], worker: str) -> None:
    """Hand leased updates to the workers, for a caller that will not post them itself."""
    for update in leased:
        issue_updates.release(engine, update.id, worker)
