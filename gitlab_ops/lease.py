"""A queued item's lease, kept while a worker runs it, and checked before every GitLab write.

A lease is how a queue (`gitlab_ops.lease_queue`: the webhook inbox, the issue
updates) knows a worker is alive: one that stops renewing it (killed, frozen,
cut off from the database) loses the item to the next claim once it runs out.
So a heartbeat renews it every third of its length while the item runs, and
before each write to GitLab (a comment, an untick, a merge request, a state
note edit) the worker renews it once more, synchronously: if another worker
holds it by then, this one stops (`LeaseLost`) before writing, and leaves the
item to its new owner. The renewal is fenced by the owner's name and measured
by the database's clock (`LeaseQueue.renew`).

The running lease travels in a context variable, so the code below the worker
checks it (`guard()`) without every function passing it along; outside a
worker there is none and nothing is checked.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("lease", default=None)


class LeaseLost(Exception):
    """Another worker claimed the item: this one must not write anything more."""


class Lease:
    def __init__(self, renew: Callable[[], bool], every: float) -> None:
        self._renew = renew  # extends the lease; False when it is no longer ours
        self._every = every
        self._lost = threading.Event()
        self._stop = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def ensure(self) -> None:
        """Extend the lease now, or raise `LeaseLost`. A database error propagates: a
        worker that cannot tell whether it still owns the item must not write."""
        if self._lost.is_set() or not self._renew():
            self._lost.set()
            raise LeaseLost("the lease was taken by another worker")

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._renew():
                    self._lost.set()
                    return
            except Exception:
                # The next beat or the check before a write tries again.
                log.warning("renewing a lease failed", exc_info=True)

    @contextmanager
    def held(self) -> Iterator[Lease]:
        """Renew in the background while the body runs; `guard()` checks this lease."""
        beat = threading.Thread(target=self._beat, name="rollout-bot-lease", daemon=True)
        beat.start()
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)
            self._stop.set()
            beat.join()


def guard() -> None:
    """Called right before a GitLab write: stops a worker that lost its item."""
    lease = _current.get()
    if lease is not None:
        lease.ensure()
