"""`rollout-bot serve` as one command: the web server and delivery workers as processes.

The web side (``serve --no-worker``: gunicorn) only acknowledges; each delivery worker
(``rollout-bot worker``) is its own process, so processing never shares a process, a GIL
or a connection pool with receiving. This process only starts them, starts a worker
again when one dies (with a growing pause when it dies young, so a broken setting does
not spin), and stops them all on SIGTERM or SIGINT. The web server dying ends the service.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.5
STOP_SECONDS: Final = 30.0
"""How long stopping children may take before they are killed: a worker finishes the
delivery in hand (its lease covers it if it is killed anyway)."""
YOUNG_SECONDS: Final = 10.0
MAX_PAUSE_SECONDS: Final = 30.0


@dataclass
class _Slot:
    argv: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    quick_deaths: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(list(self.argv))
        self.started = time.monotonic()

    def check(self, now: float) -> None:
        """Start the worker again when it exited, after a pause if it died young."""
        if self.process is not None and self.process.poll() is not None:
            young = now - self.started < YOUNG_SECONDS
            self.quick_deaths = self.quick_deaths + 1 if young else 0
            pause = min(MAX_PAUSE_SECONDS, 2.0 ** (self.quick_deaths - 1)) if young else 0.0
            log.warning(
                "delivery worker %s exited (%s); next in %.0fs",
                self.process.pid,
                self.process.returncode,
                pause,
            )
            self.process, self.next_start = None, now + pause
        if self.process is None and now >= self.next_start:
            self.start()


def _stop(processes: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("process %s did not stop in %.0fs: killing it", process.pid, timeout)
            process.kill()
            process.wait()


def supervise(
    web: Sequence[str], worker: Sequence[str], workers: int, *, stop_timeout: float = STOP_SECONDS
) -> int:
    """Run until SIGTERM/SIGINT (exit code 0) or until the web server exits (1)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server = subprocess.Popen(list(web))
    slots = [_Slot(worker) for _ in range(workers)]
    for slot in slots:
        slot.start()
    code = 0
    try:
        while not stop.wait(POLL_SECONDS):
            if server.poll() is not None:
                log.error("the web server exited (%s): stopping", server.returncode)
                code = 1
                break
            now = time.monotonic()
            for slot in slots:
                slot.check(now)
    finally:
        running = [slot.process for slot in slots if slot.process is not None]
        _stop([server, *running], stop_timeout)
    return code
