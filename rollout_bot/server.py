"""The web side of `rollout-bot serve`: the Flask app under gunicorn, acknowledging only.

Serving model: gunicorn's ``asgi`` worker, an event loop per process that reads every
connection, with the Flask app behind a2wsgi's thread pool (``threads`` per process).
A request reaches a thread only once it has arrived whole (:mod:`rollout_bot.whole_requests`),
so idle, slow or half-sent requests hold a socket and a buffer, never a thread: under
gunicorn's ``gthread`` worker, which gives a thread each accepted connection, eight
half-sent requests left `serve` answering nothing. Keep-alive is short so idle
kept-alive sockets are closed soon. Nothing in the request path waits on processing or
on GitLab: delivery workers run in their own processes (:mod:`rollout_bot.supervisor`),
and the receiver only verifies, classifies and stores.
"""

from __future__ import annotations

import logging
from typing import Any, Final, cast

from a2wsgi import WSGIMiddleware
from a2wsgi.asgi_typing import ASGIApp, HTTPScope
from a2wsgi.wsgi_typing import WSGIApp
from flask import Flask
from gunicorn.app.base import BaseApplication

from flags.database import share_writer_turn_timeouts
from flags.engine import Flags
from flags.process_count import ProcessCount
from rollout_bot.runtime import Runtime
from rollout_bot.services import build_bot, build_worker, receiver_config, verification
from rollout_bot.whole_requests import BodyTimeoutsCollector, WholeRequests
from tracking.metrics import TrackingCollector
from webhook.app import create_app
from webhook.issue_update_job import IssueUpdatesCollector
from webhook.metrics import FlagsCollector
from webhook.verification import Verification, token_accepted
from webhook.worker import Worker

log = logging.getLogger(__name__)

WORKER_CLASS: Final = "asgi"
# Threads per web process (a2wsgi's pool). Every request stores one row, and past a
# few threads they only queue, on SQLite's one writer lock or on the GIL: with 16, the
# SQLite acknowledgement p99 under load was 666 ms and 4 gave 119; on PostgreSQL, over
# four runs each of bench/ack_processing.py's round, 4 threads acknowledged 760-980 a
# second at an idle p99 of 33-60 ms where 16 gave 450-740 at 113-148 ms.
THREADS: Final = 4


KEEPALIVE_SECONDS: Final = 2
TIMEOUT_SECONDS: Final = 30
GRACEFUL_TIMEOUT_SECONDS: Final = 10


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, app: ASGIApp, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> ASGIApp:
        return self.application


def asgi_app(
    app: Flask, *, threads: int, verification: Verification, timeouts: ProcessCount
) -> ASGIApp:
    """The Flask app as gunicorn's ``asgi`` worker serves it: whole requests only, each
    handled on one of `threads` threads; a body is read only for a sender with the
    webhook's token (the app refuses the rest from their headers)."""

    def admit(scope: HTTPScope) -> bool:
        given = next(
            (value for name, value in scope["headers"] if name.lower() == b"x-gitlab-token"),
            None,
        )
        return token_accepted(None if given is None else given.decode("latin-1"), verification)

    return WholeRequests(
        # a2wsgi types the environ as a TypedDict and Flask as a dict: one WSGI callable.
        WSGIMiddleware(cast(WSGIApp, app), workers=threads),
        max_body_bytes=verification.max_body_bytes,
        admit=admit,
        timeouts=timeouts,
    )


def build(
    runtime: Runtime,
    *,
    embedded_worker: bool = False,
    body_timeouts: ProcessCount | None = None,
) -> tuple[Flask, Worker | None]:
    """The app; ``embedded_worker`` adds in-process worker threads (the tests' stack only:
    `serve` runs its delivery workers as processes)."""
    worker = None
    if embedded_worker and runtime.settings.gitlab_url:
        worker = build_worker(runtime, build_bot(runtime))
    elif embedded_worker:
        log.warning("no ROLLOUT_BOT_GITLAB_URL: deliveries are stored but not processed")
    app = create_app(
        runtime.engine,
        receiver=receiver_config(runtime, worker),
        registry=runtime.registry,
        environments=runtime.settings.environments,
        collectors=[
            TrackingCollector(runtime.engine),
            IssueUpdatesCollector(runtime.engine),
            BodyTimeoutsCollector(body_timeouts or ProcessCount()),
            *_flags_collector(runtime),
        ],
        dashboard_token=runtime.settings.dashboard_token,
    )
    return app, worker


def _flags_collector(runtime: Runtime) -> list[FlagsCollector]:
    """The bot reads no flag itself: this reader shows whether its processes reach the
    store, in an environment the database holds (none when instances hold them all)."""
    settings = runtime.settings
    local = [env for env in settings.environments if env not in settings.instances]
    if not local:
        return []
    environment = "production" if "production" in local else local[0]
    return [FlagsCollector(Flags(runtime.database_store, runtime.registry, environment))]


def run(
    runtime: Runtime, *, host: str, port: int, workers: int, threads: int | None = None
) -> None:
    """Serve until gunicorn is told to stop (SIGTERM, SIGINT)."""
    if threads is None:
        threads = THREADS
    # Shared before gunicorn forks, so that every web process counts into them.
    timeouts = ProcessCount()
    timeouts.share()
    share_writer_turn_timeouts()
    app, _ = build(runtime, body_timeouts=timeouts)
    # Connections must not cross the fork into gunicorn's workers.
    runtime.engine.dispose()
    _Gunicorn(
        asgi_app(app, threads=threads, verification=verification(runtime), timeouts=timeouts),
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": WORKER_CLASS,
            # a2wsgi speaks no lifespan protocol, and nothing here needs one.
            "asgi_lifespan": "off",
            # uvloop: about a fifth more acknowledgements a second than asyncio's loop
            # (bench/webhook_ack.py, same machine and rounds).
            "asgi_loop": "uvloop",
            "keepalive": KEEPALIVE_SECONDS,
            "timeout": TIMEOUT_SECONDS,
            "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
            "accesslog": "-",
            "preload_app": True,
            # One per user otherwise (~/.gunicorn): two services would fight over it.
            "control_socket_disable": True,
        },
    ).run()
