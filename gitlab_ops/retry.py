"""How long to wait before trying GitLab again: shared by the inbox and the issue updates."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_DELAY = 300.0


def backoff(attempt: int, base: float, *, rng: Callable[[], float] = random.random) -> float:
    """Exponential with full jitter (AWS's "Exponential Backoff and Jitter"), capped."""
    ceiling = min(MAX_DELAY, base * 2.0 ** max(0, attempt - 1))
    return float(ceiling / 2 + rng() * ceiling / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures retry after `backoff`; the attempt numbered `max_attempts` is the last."""

    max_attempts: int = 8
    base: float = 2.0

    def delay(self, attempt: int) -> float:
        return backoff(attempt, self.base)
