"""How long to wait before trying GitLab again: shared by the inbox and the issue updates."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable
from dataclasses import dataclass

from gitlab_ops.errors import TransientGitLabError

MAX_DELAY = 300.0
# A Retry-After is obeyed up to this long: a longer one (or a clock far off) must not
# park a delivery for hours; the delivery's next attempt asks again.
MAX_RETRY_AFTER = MAX_DELAY


class RetryLater(TransientGitLabError):
    """GitLab asked us to wait (429 or 503 with `Retry-After`) this many seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def backoff(attempt: int, base: float, *, rng: Callable[[], float] = random.random) -> float:
    """Exponential with full jitter (AWS's "Exponential Backoff and Jitter"), capped."""
    ceiling = min(MAX_DELAY, base * 2.0 ** max(0, attempt - 1))
    return float(ceiling / 2 + rng() * ceiling / 2)


def delay_after(retry_after: float, backoff_delay: float) -> float:
    """Never earlier than GitLab asked, never longer than `MAX_RETRY_AFTER`."""
    return max(backoff_delay, min(retry_after, MAX_RETRY_AFTER))


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date
    (RFC 9110, section 10.2.3); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures retry after `backoff`; the attempt numbered `max_attempts` is the last."""

    max_attempts: int = 8
    base: float = 2.0

    def delay(self, attempt: int) -> float:
        return backoff(attempt, self.base)
