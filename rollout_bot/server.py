"""`rollout-bot serve`: the Flask app under gunicorn, each worker process with a bot worker."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from flags.engine import Flags
from rollout_bot.runtime import Runtime
from rollout_bot.services import BotUser, build_bot, build_worker, gitlab_factory, receiver_config
from tracking.metrics import TrackingCollector
from webhook.app import create_app
from webhook.issue_update_job import IssueUpdatesCollector
from webhook.metrics import FlagsCollector
from webhook.worker import Worker

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def build(runtime: Runtime, *, embedded_worker: bool = True) -> tuple[Flask, Worker | None]:
    bot_user = BotUser(gitlab_factory(runtime))
    worker = None
    if embedded_worker and runtime.settings.gitlab_url:
        worker = build_worker(runtime, build_bot(runtime, bot_user))
    elif embedded_worker:
        log.warning("no ROLLOUT_BOT_GITLAB_URL: deliveries are stored but not processed")
    app = create_app(
        runtime.engine,
        receiver=receiver_config(runtime, bot_user, worker),
        registry=runtime.registry,
        environments=runtime.settings.environments,
        collectors=[
            TrackingCollector(runtime.engine),
            IssueUpdatesCollector(runtime.engine),
            # The bot reads no flag itself: this reader shows whether its processes reach the store.
            FlagsCollector(Flags(runtime.store, runtime.registry)),
        ],
    )
    return app, worker


def run(runtime: Runtime, *, host: str, port: int, workers: int, embedded_worker: bool) -> None:
    app, worker = build(runtime, embedded_worker=embedded_worker)
    # Connections must not cross the fork into gunicorn's workers.
    runtime.engine.dispose()

    def post_worker_init(_: Any) -> None:
        if worker is not None:
            worker.start()

    def worker_exit(_server: Any, _worker: Any) -> None:
        if worker is not None:
            worker.stop()

    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "accesslog": "-",
            "preload_app": True,
            "post_worker_init": post_worker_init,
            "worker_exit": worker_exit,
        },
    ).run()
