"""Building the bot, the worker and the receiver from settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from flags.commands import Context
from gitlab_ops import issues, step_records
from gitlab_ops.access import AccessPolicy
from gitlab_ops.client import GitLab, GitLabResolver, client_factory
from gitlab_ops.errors import GitLabError
from rollout_bot.config import ConfigError
from rollout_bot.issue_notice import STATE_NOTE_READER, retry_policy
from rollout_bot.runtime import Runtime
from webhook import inbox
from webhook.adopt_command import AdoptCommand
from webhook.bot import Bot
from webhook.comment_ledger import CommentLedger
from webhook.issue_update_job import IssueUpdateJob, refreshing
from webhook.receiver import ReceiverConfig
from webhook.retention import RetentionJob
from webhook.verification import Verification
from webhook.worker import Worker

log = logging.getLogger(__name__)


def access_policy(runtime: Runtime) -> AccessPolicy:
    defaults = AccessPolicy()
    levels = dict(defaults.levels)
    levels.update(runtime.settings.access_levels)
    return AccessPolicy(levels=levels, default=levels.get("production", defaults.default))


def gitlab_factory(runtime: Runtime) -> Callable[[str | None], GitLab] | None:
    """Clients that share one HTTP session; None without ROLLOUT_BOT_GITLAB_URL."""
    settings = runtime.settings
    if not settings.gitlab_url:
        return None
    return client_factory(settings.gitlab_url, settings.gitlab_token, session=requests.Session())


class BotUser:
    """The bot's own GitLab user id, asked once and remembered (None until known)."""

    def __init__(self, make: Callable[[str | None], GitLab] | None) -> None:
        self._make = make
        self._id: int | None = None
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        if self._id is None and self._make is not None:
            with self._lock:
                if self._id is None:
                    try:
                        self._id, _ = self._make(None).current_user()
                    except GitLabError as exc:
                        log.warning("cannot read the bot's GitLab user yet: %s", exc)
        return self._id


def build_bot(runtime: Runtime, bot_user: BotUser | None = None) -> Bot:
    settings = runtime.settings
    make = gitlab_factory(runtime)
    if make is None:
        raise ConfigError("the bot needs ROLLOUT_BOT_GITLAB_URL and ROLLOUT_BOT_GITLAB_TOKEN")

    def context(who: str, source: str, client: GitLab) -> Context:
        return runtime.context(who=who, source=source, resolver=GitLabResolver(client))

    ledger = CommentLedger(runtime.engine)
    return Bot(
        store=runtime.store,
        context=context,
        environments=settings.environments,
        gitlab=make,
        access=access_policy(runtime),
        comment_ledger=ledger,
        max_steps=settings.max_steps_per_edit,
        bot_user_id=bot_user or BotUser(make),
        flag_of=lambda project_id, iid: issues.flag_of(runtime.engine, project_id, iid),
        later_deliveries=lambda delivery_key: inbox.later(runtime.engine, delivery_key),
        step_shape=lambda project_id, iid, step: step_records.shape_of(
            runtime.engine, project_id, iid, step
        ),
        adopt=AdoptCommand(runtime.engine, runtime.registry, settings.environments, ledger),
    )


def build_worker(runtime: Runtime, bot: Bot) -> Worker:
    """The inbox worker; its threads also post the issue updates (comments, state notes)."""
    settings = runtime.settings
    updates = IssueUpdateJob(
        engine=runtime.engine,
        gitlab=bot.gitlab,
        context=runtime.context(who=STATE_NOTE_READER, source=STATE_NOTE_READER),
        policy=retry_policy(runtime),
        lease=settings.lease_seconds,
    )
    return Worker(
        engine=runtime.engine,
        handle=refreshing(bot.handle, runtime.engine, runtime.store, bot.flag_of),
        threads=settings.worker_threads,
        lease=settings.lease_seconds,
        max_attempts=settings.max_attempts,
        retry_base=settings.retry_base_seconds,
        jobs=(updates, RetentionJob(runtime.engine, days=settings.retention_days)),
    )


def verification(runtime: Runtime) -> Verification:
    settings = runtime.settings
    if settings.webhook_secret is None and not settings.local_trial:
        raise ConfigError(
            "ROLLOUT_BOT_WEBHOOK_SECRET is not set: set it to the hook's secret token, "
            "or pass --local-trial to accept unauthenticated deliveries on this machine"
        )
    try:
        return Verification(
            secret_token=settings.webhook_secret,
            signing_secret=settings.signing_secret,
            max_body_bytes=settings.max_body_bytes,
        )
    except ValueError as exc:
        raise ConfigError(f"webhook settings: {exc}") from exc


def receiver_config(runtime: Runtime, worker: Worker | None) -> ReceiverConfig:
    """No bot user id here: asking GitLab for it would put GitLab in the request path;
    the worker ignores the bot's own events."""
    return ReceiverConfig(
        engine=runtime.engine,
        verification=verification(runtime),
        project_ids=runtime.settings.project_ids,
        on_queued=worker.wake.set if worker is not None else (lambda: None),
    )
