"""The worker side of the issue updates: post queued comments and state note refreshes,
and queue a refresh after a delivery that may have changed a flag.

The bot's own ticks and comment commands refresh the note through the same
queue as terminal changes rather than editing it inline: one writer per issue
at a time (the claim), so two processes never both create the note; a
refresh coalesces with any other pending one and renders the state when it is
posted; and a note edit GitLab refuses for a while holds up no delivery.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from flags.commands import Context
from flags.store import Store
from gitlab_ops import issue_posting, issue_updates
from gitlab_ops.client import GitLab
from gitlab_ops.retry import RetryPolicy
from webhook.inbox import Delivery

log = logging.getLogger(__name__)


@dataclass
class IssueUpdateJob:
    """One step of a worker thread: claim one issue update and post it; False when idle."""

    engine: Engine
    gitlab: Callable[[str | None], GitLab]  # event uuid -> a client that sends it back
    context: Context  # reads the state the note shows
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    lease: float = issue_updates.DEFAULT_LEASE
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def __call__(self, thread: str | None = None) -> bool:
        me = f"{self.name}:{thread or threading.current_thread().name}:updates"
        update = issue_updates.claim(self.engine, me, lease=self.lease)
        if update is None:
            return False
        status = issue_posting.deliver(
            self.engine,
            self.gitlab(update.event_uuid),
            update,
            me,
            self.context,
            self.policy,
            lease_seconds=self.lease,
        )
        log.info("issue update %s (%s) %s", update.id, update.kind, status)
        return True


def refreshing(
    handle: Callable[[Delivery], str],
    engine: Engine,
    store: Store,
    flag_of: Callable[[int, int], str | None],
) -> Callable[[Delivery], str]:
    """Wrap the bot's handler: queue a state note refresh when a delivery may have changed
    its rollout issue's flag.

    Every change bumps the store's version, so an unchanged version on a first
    attempt means this delivery changed nothing. A retried delivery always
    refreshes: its first attempt may have changed the flag and died before
    queueing. A change elsewhere in between costs one refresh that edits nothing.
    """

    def handle_and_refresh(delivery: Delivery) -> str:
        version = store.version()
        try:
            return handle(delivery)
        finally:
            # Also when the handler raised: its flag change may have committed already.
            project_id, iid = delivery.project_id, delivery.issue_iid
            may_have_changed = delivery.attempts > 1 or store.version() != version
            flag = None
            if project_id is not None and iid is not None and may_have_changed:
                flag = flag_of(project_id, iid)
            if flag is not None:
                assert project_id is not None and iid is not None
                issue_updates.enqueue(engine, project_id, iid, flag, event_uuid=delivery.event_uuid)

    return handle_and_refresh


class IssueUpdatesCollector(Collector):
    """`rollout_bot_issue_updates{status}`: read from the table, the same in every process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "rollout_bot_issue_updates",
            "Comments and state note refreshes owed to rollout issues",
            labels=["status"],
        )
        counts = issue_updates.counts(self.engine)
        for status in issue_updates.STATUSES:
            family.add_metric([status], counts.get(status, 0))
        yield family
