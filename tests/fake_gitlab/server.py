"""Serve a WSGI app on 127.0.0.1 (ephemeral port) from a daemon thread."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.fake_gitlab.aliases import WSGIApp

# How often serve_forever checks for shutdown(); the default 0.5 s makes every stop() slow.
POLL_INTERVAL = 0.02


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests read the fake's own request log instead."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LoopbackServer:
    def __init__(self, app: WSGIApp, name: str) -> None:
        self._app = app
        self._name = name
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        if self._server is not None:
            return
        server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=self._name,
            daemon=True,
        )
        self._server = server
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
