"""A recording webhook receiver on loopback: stands in for the bot's `POST /webhook`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from tests.fake_gitlab.aliases import StartResponse
from tests.fake_gitlab.server import LoopbackServer


@dataclass(frozen=True)
class ReceivedHook:
    method: str
    path: str
    headers: Headers  # case-insensitive, like HTTP
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str | None:
        return self.headers.get("X-Gitlab-Event")


Responder = Callable[[ReceivedHook], tuple[int, str]]


class HookReceiver:
    """Records every request; answers `status` (default 200), or what `responder` returns."""

    def __init__(self, status: int = 200, responder: Responder | None = None) -> None:
        self.status = status
        self.responder = responder
        self.received: list[ReceivedHook] = []
        self._arrived = threading.Condition()
        self._server = LoopbackServer(self._wsgi, "hook-receiver")

    @property
    def url(self) -> str:
        return f"{self._server.url}/webhook"

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedHook]:
        """Block until at least `count` requests arrived; returns all so far."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} hooks arrived")
            return list(self.received)

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        hook = ReceivedHook(
            method=request.method,
            path=request.path,
            headers=Headers(request.headers),
            body=request.get_data(),
        )
        status, text = self.responder(hook) if self.responder else (self.status, "")
        with self._arrived:
            self.received.append(hook)
            self._arrived.notify_all()
        response = Response(text, status=status, content_type="text/plain")
        return response(environ, start_response)
