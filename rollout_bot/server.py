"""`rollout-bot serve`: the Flask app under gunicorn, the production server."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from rollout_bot.runtime import Runtime
from webhook.app import create_app


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


def run(runtime: Runtime, *, host: str, port: int, workers: int) -> None:
    # Connections must not cross the fork into gunicorn's workers.
    runtime.engine.dispose()
    app = create_app(runtime.engine)
    _Gunicorn(
        app,
        {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-", "preload_app": True},
    ).run()
