"""Workers: claim deliveries from the inbox, run them, retry what may pass, fail the rest.

While a delivery runs, its lease is renewed (`gitlab_ops.lease`); a worker that lost
it stops before its next GitLab write and leaves the delivery to the new owner.
Retries are ours alone: python-gitlab and the HTTP layer retry nothing
(`gitlab_ops.client`), and a `Retry-After` GitLab sent is waited out, capped,
as one attempt of the delivery.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from gitlab_ops.errors import GitLabError, TransientGitLabError
from gitlab_ops.lease import Lease, LeaseLost
from gitlab_ops.retry import RetryLater, backoff, delay_after
from webhook import inbox
from webhook.inbox import Delivery

log = logging.getLogger(__name__)


@dataclass
class Worker:
    engine: Engine
    handle: Callable[[Delivery], str]
    threads: int = 4
    lease: float = 60.0
    max_attempts: int = 8
    retry_base: float = 2.0
    poll: float = 0.2
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    # Other queues the same threads drain after the inbox (issue updates): each claims
    # and runs one item, False when none was ready.
    jobs: tuple[Callable[[str | None], bool], ...] = ()
    wake: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def run_once(self, thread: str | None = None) -> bool:
        """Claim and process one delivery; False when none was ready."""
        me = f"{self.name}:{thread or threading.current_thread().name}"
        delivery = inbox.claim(self.engine, me, lease=self.lease)
        if delivery is None:
            return False
        lease = Lease(
            lambda: inbox.renew(self.engine, delivery.id, me, lease=self.lease),
            every=self.lease / 3,
        )
        with lease.held():
            self._run(delivery, me)
        return True

    def _run(self, delivery: Delivery, me: str) -> None:
        try:
            note = self.handle(delivery)
        except LeaseLost:
            log.warning("delivery %s: lease lost, left to its new owner", delivery.delivery_key)
            return
        except TransientGitLabError as exc:
            self._retry_or_fail(delivery, me, str(exc), exc)
            return
        except GitLabError as exc:
            log.warning("delivery %s failed: %s", delivery.delivery_key, exc)
            self._owned(delivery, inbox.fail(self.engine, delivery.id, me, error=str(exc)))
            return
        except Exception as exc:
            # One catch-all at the top: log with the delivery, keep serving.
            log.exception("delivery %s raised", delivery.delivery_key)
            self._retry_or_fail(delivery, me, f"{type(exc).__name__}: {exc}")
            return
        log.info("delivery %s done: %s", delivery.delivery_key, note)
        self._owned(delivery, inbox.complete(self.engine, delivery.id, me))

    def _owned(self, delivery: Delivery, finished: bool) -> None:
        if not finished:
            # Its effects are keyed by the delivery, so the new owner replays, not repeats.
            log.warning(
                "delivery %s: lease lost before it was recorded; its new owner finishes it",
                delivery.delivery_key,
            )

    def _retry_or_fail(
        self, delivery: Delivery, me: str, error: str, exc: Exception | None = None
    ) -> None:
        if delivery.attempts >= self.max_attempts:
            log.warning(
                "delivery %s failed after %d attempts: %s",
                delivery.delivery_key,
                delivery.attempts,
                error,
            )
            self._owned(delivery, inbox.fail(self.engine, delivery.id, me, error=error))
            return
        delay = backoff(delivery.attempts, self.retry_base)
        if isinstance(exc, RetryLater):
            delay = delay_after(exc.retry_after, delay)
        log.info("delivery %s: %s; retrying in %.1fs", delivery.delivery_key, error, delay)
        rescheduled = inbox.reschedule(self.engine, delivery.id, me, error=error, delay=delay)
        self._owned(delivery, rescheduled)

    def _loop(self, thread: str) -> None:
        while not self.stopping.is_set():
            worked = False
            for job in (self.run_once, *self.jobs):
                try:
                    worked = job(thread) or worked
                except Exception:
                    log.exception("worker %s: claiming failed", thread)
            if not worked:
                self.wake.wait(self.poll)
                self.wake.clear()

    def start(self) -> None:
        for n in range(self.threads):
            thread = threading.Thread(
                target=self._loop, args=(f"t{n}",), name=f"rollout-bot-worker-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
