"""Whole requests only: the ASGI layer between gunicorn's event loop and the WSGI app.

gunicorn's ``gthread`` worker gives a connection to a thread as soon as it is accepted,
and the thread then reads the request with no deadline. Eight clients that sent half a
request line and stopped (2 processes x 4 threads) held every thread, and `serve`
answered nothing, `/healthz` included, for as long as they stayed connected.

Here gunicorn's ``asgi`` worker reads every connection in its event loop, where a
client that is slow to send costs a buffer and not a thread, and `WholeRequests`
passes a request on to the WSGI app (a2wsgi's thread pool) only once its body has
arrived: in full, within `body_seconds` (past it: 408, nothing handled), and at most
`max_body_bytes` + 1 bytes of it. A body longer than that is cut there, which the
receiver refuses (413) by its length, as it refuses a declared Content-Length over the
limit without any of the body being read. A request that `admit` turns down by its
headers (the webhook's token missing or wrong) is not read at all: the app answers it
from its headers, so an unauthenticated sender cannot make the bot hold its body.

https://asgi.readthedocs.io/en/latest/specs/www.html (the HTTP connection scope and
its ``http.request`` messages).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from a2wsgi.asgi_typing import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPScope,
    Receive,
    ReceiveEvent,
    Scope,
    Send,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from flags.process_count import ProcessCount

log = logging.getLogger(__name__)

# GitLab sends a hook's body at once (it gives up on a hook after 10 s), so a body
# still arriving after this long is not GitLab's.
BODY_SECONDS: Final = 20.0

MSG_BODY_TIMEOUT: Final = "request body not received within {seconds:g} s"


@dataclass(frozen=True)
class Body:
    """What was read of a request's body: all of it, or its first `cap` bytes."""

    data: bytes
    complete: bool
    disconnected: bool = False


async def read_body(receive: Receive, cap: int) -> Body:
    """Read ``http.request`` messages until the body ends, or until `cap` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nobody to answer
            return Body(b"", complete=False, disconnected=True)
        chunk = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if size + len(chunk) >= cap and (more or size + len(chunk) > cap):
            chunks.append(chunk[: cap - size])
            return Body(b"".join(chunks), complete=False)
        chunks.append(chunk)
        size += len(chunk)
        if not more:
            return Body(b"".join(chunks), complete=True)


def _declared_length(scope: HTTPScope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _sized(scope: HTTPScope, length: int) -> HTTPScope:
    """The scope with the body's length stated, since it is now known: the WSGI side
    reads a Content-Length, and would see a chunked body as empty without one."""
    headers = [
        (name, value)
        for name, value in scope["headers"]
        if name.lower() not in (b"content-length", b"transfer-encoding")
    ]
    headers.append((b"content-length", str(length).encode("ascii")))
    return {**scope, "headers": headers}


@dataclass(frozen=True)
class WholeRequests:
    """ASGI middleware: `app` sees only requests whose body has been read."""

    app: ASGIApp
    max_body_bytes: int
    body_seconds: float = BODY_SECONDS
    admit: Callable[[HTTPScope], bool] = lambda _scope: True
    timeouts: ProcessCount = field(default_factory=ProcessCount)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            # Refused by the app from its Content-Length alone: nothing of it is read.
            await self.app(scope, _replay(b"", receive), send)
            return
        if not self.admit(scope):
            # The app refuses it by its headers; it sees no body, and is told so.
            await self.app(_sized(scope, 0), _replay(b"", receive), send)
            return
        try:
            async with asyncio.timeout(self.body_seconds):
                body = await read_body(receive, self.max_body_bytes + 1)
        except TimeoutError:
            self.timeouts.add()
            reason = MSG_BODY_TIMEOUT.format(seconds=self.body_seconds)
            log.info("request refused (408): %s", reason)
            await _answer(send, 408, {"status": "rejected", "reason": reason})
            return
        if body.disconnected:
            return
        sized = scope if body.complete and declared is not None else _sized(scope, len(body.data))
        await self.app(sized, _replay(body.data, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the whole body first, then waits on the connection
    (for ``http.disconnect``)."""
    given = False

    async def replayed() -> ReceiveEvent:
        nonlocal given
        if given:
            return await receive()
        given = True
        message: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
        return message

    return replayed


async def _answer(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"connection", b"close"),
            ],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class BodyTimeoutsCollector(Collector):
    """``rollout_bot_request_body_timeouts_total`` for /metrics."""

    def __init__(self, timeouts: ProcessCount) -> None:
        self.timeouts = timeouts

    def collect(self) -> Iterator[Metric]:
        timeouts = CounterMetricFamily(
            "rollout_bot_request_body_timeouts",
            f"Requests refused (408) for a body slower than {BODY_SECONDS:g} s",
        )
        timeouts.add_metric([], self.timeouts.count())
        yield timeouts
