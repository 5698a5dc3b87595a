"""Workers: claim deliveries from the inbox, run them, retry what may pass, fail the rest."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from gitlab_ops.errors import GitLabError, TransientGitLabError
from gitlab_ops.retry import backoff
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
        try:
            note = self.handle(delivery)
        except TransientGitLabError as exc:
            self._retry_or_fail(delivery, me, str(exc))
        except GitLabError as exc:
            log.warning("delivery %s failed: %s", delivery.delivery_key, exc)
            inbox.fail(self.engine, delivery.id, me, error=str(exc))
        except Exception as exc:
            # One catch-all at the top: log with the delivery, keep serving.
            log.exception("delivery %s raised", delivery.delivery_key)
            self._retry_or_fail(delivery, me, f"{type(exc).__name__}: {exc}")
        else:
            log.info("delivery %s done: %s", delivery.delivery_key, note)
            inbox.complete(self.engine, delivery.id, me)
        return True

    def _retry_or_fail(self, delivery: Delivery, me: str, error: str) -> None:
        if delivery.attempts >= self.max_attempts:
            log.warning(
                "delivery %s failed after %d attempts: %s",
                delivery.delivery_key,
                delivery.attempts,
                error,
            )
            inbox.fail(self.engine, delivery.id, me, error=error)
            return
        delay = backoff(delivery.attempts, self.retry_base)
        log.info("delivery %s: %s; retrying in %.1fs", delivery.delivery_key, error, delay)
        inbox.reschedule(self.engine, delivery.id, me, error=error, delay=delay)

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
