"""The bot's health as data: the inbox, the issue updates it owes, the tracker; pure.

Every failure comes with the command that retries it: the pages are read-only, and
a retry is a deliberate act from a terminal that leaves its trace in the shell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracking.dead_letters import DeadLetter
from tracking.status import Status
from webhook.dashboard.when import When, when
from webhook.inbox import DONE, FAILED, PENDING, PROCESSING, Delivery

STATUSES = (PENDING, PROCESSING, DONE, FAILED)
RETRY_DELIVERY = "rollout-bot inbox retry {id}"
RETRY_ALL_DELIVERIES = "rollout-bot inbox retry --failed"
RETRY_DEAD_LETTER = "rollout-bot tracking retry {id}"


@dataclass(frozen=True)
class Failure:
    delivery: Delivery
    received: When
    retry: str


@dataclass(frozen=True)
class Letter:
    letter: DeadLetter
    dead: When
    retry: str


@dataclass(frozen=True)
class Health:
    inbox: dict[str, int]
    oldest_waiting: When | None
    failures: tuple[Failure, ...]
    updates: dict[str, int]
    tracker: Status
    tracker_oldest: When | None
    letters: tuple[Letter, ...]
    retry_all: str = RETRY_ALL_DELIVERIES

    def as_dict(self) -> dict[str, Any]:
        return {
            "inbox": {
                "counts": self.inbox,
                "oldest_waiting": self.oldest_waiting.iso if self.oldest_waiting else None,
                "failures": [{**f.delivery.as_dict(), "retry": f.retry} for f in self.failures],
            },
            "issue_updates": {"counts": self.updates},
            "tracking": self.tracker.as_dict(),
        }


def _counts(found: Mapping[str, int]) -> dict[str, int]:
    # Every status, zeros included: "0 failed" is an answer, a missing row is not.
    counts = {status: int(found.get(status, 0)) for status in STATUSES}
    counts.update({k: int(v) for k, v in found.items() if k not in counts})
    return counts


def health(
    inbox_counts: Mapping[str, int],
    oldest_waiting: dt.datetime | None,
    failed: Sequence[Delivery],
    update_counts: Mapping[str, int],
    tracker: Status,
    now: dt.datetime,
) -> Health:
    return Health(
        inbox=_counts(inbox_counts),
        oldest_waiting=when(oldest_waiting, now) if oldest_waiting else None,
        failures=tuple(
            Failure(d, when(d.received_at, now), RETRY_DELIVERY.format(id=d.id)) for d in failed
        ),
        updates=_counts(update_counts),
        tracker=tracker,
        tracker_oldest=when(tracker.oldest, now) if tracker.oldest else None,
        letters=tuple(
            Letter(letter, when(letter.dead_at, now), RETRY_DEAD_LETTER.format(id=letter.id))
            for letter in tracker.dead_letters
        ),
    )
