"""`WholeRequests`: the WSGI side gets a request only once its body has arrived.

Driven as gunicorn's asgi worker drives it (scope, receive, send), with a recording app
behind it; `tests/test_serve_processes.py` runs the same through the real `serve`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from flags.process_count import ProcessCount
from rollout_bot.whole_requests import (
    MSG_BODY_TIMEOUT,
    BodyTimeoutsCollector,
    WholeRequests,
)
from tests.forking import run_forked

LIMIT = 10


def http_scope(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook",
        "raw_path": b"/webhook",
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }


CHUNKED = [(b"transfer-encoding", b"chunked"), (b"x-gitlab-token", b"t")]


class Client:
    """The connection's side: `messages` handed out one per receive(), then a wait."""

    def __init__(self, messages: list[dict[str, Any]], *, stall: bool = False) -> None:
        self.messages = list(messages)
        self.received = 0
        self.stall = stall
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> Any:
        self.received += 1
        if self.messages:
            return self.messages.pop(0)
        if self.stall:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(self, message: Any) -> None:
        self.sent.append(message)


class App:
    """Records what it was given: the scope's headers and the body it reads."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[bytes, bytes], bytes, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        first = await receive()
        after = await receive()
        self.calls.append((dict(scope["headers"]), first["body"], after))


def run(middleware: WholeRequests, scope: dict[str, Any], client: Client) -> None:
    asyncio.run(middleware(scope, client.receive, client.send))  # type: ignore[arg-type]


def chunks(*parts: bytes) -> list[dict[str, Any]]:
    last = len(parts) - 1
    return [
        {"type": "http.request", "body": part, "more_body": n < last}
        for n, part in enumerate(parts)
    ]


def test_a_body_sent_in_pieces_reaches_the_app_whole_with_its_length() -> None:
    app, client = App(), Client(chunks(b"ab", b"cd", b"e"))
    run(WholeRequests(app, max_body_bytes=LIMIT), http_scope(CHUNKED), client)
    [(headers, body, after)] = app.calls
    assert body == b"abcde"
    # Stated, so the WSGI side reads it; chunked framing is gone with the pieces.
    assert headers[b"content-length"] == b"5"
    assert b"transfer-encoding" not in headers
    assert after == {"type": "http.disconnect"}  # later receives reach the connection


def test_a_declared_length_within_the_limit_is_kept_as_sent() -> None:
    app, client = App(), Client(chunks(b"abc"))
    scope = http_scope([(b"content-length", b"3"), (b"x-gitlab-token", b"t")])
    run(WholeRequests(app, max_body_bytes=LIMIT), scope, client)
    [(headers, body, _)] = app.calls
    assert (headers[b"content-length"], body) == (b"3", b"abc")


def test_a_body_over_the_limit_is_cut_one_byte_past_it_and_not_read_further() -> None:
    app = App()
    client = Client(chunks(b"123456", b"7890ab", b"cdef", b"never read"))
    run(WholeRequests(app, max_body_bytes=LIMIT), http_scope(CHUNKED), client)
    [(headers, body, _)] = app.calls
    assert body == b"1234567890a"  # LIMIT + 1: the receiver refuses it by its length
    assert headers[b"content-length"] == str(LIMIT + 1).encode()
    assert client.received == 2 + 1  # two pieces read, then the app's second receive


def test_a_body_of_exactly_the_limit_is_whole() -> None:
    app, client = App(), Client(chunks(b"12345", b"67890"))
    run(WholeRequests(app, max_body_bytes=LIMIT), http_scope(CHUNKED), client)
    assert app.calls[0][1] == b"1234567890"


def test_a_declared_length_over_the_limit_is_not_read_at_all() -> None:
    app, client = App(), Client(chunks(b"x" * 50))
    scope = http_scope([(b"content-length", b"50"), (b"x-gitlab-token", b"t")])
    run(WholeRequests(app, max_body_bytes=LIMIT), scope, client)
    [(headers, body, _)] = app.calls
    assert (headers[b"content-length"], body) == (b"50", b"")  # refused by its header
    assert client.received == 1  # only the app's second receive, none of the body


def test_a_request_turned_down_by_its_headers_is_not_read() -> None:
    app, client = App(), Client(chunks(b"abc"))
    middleware = WholeRequests(
        app, max_body_bytes=LIMIT, admit=lambda scope: (b"x-gitlab-token", b"t") in scope["headers"]
    )
    run(middleware, http_scope([(b"content-length", b"3")]), client)
    assert app.calls[0][1] == b""
    assert app.calls[0][0][b"content-length"] == b"0"  # else WSGI would wait for 3 bytes
    assert client.received == 1  # only the app's second receive, none of the body
    admitted = Client(chunks(b"abc"))
    run(middleware, http_scope([(b"content-length", b"3"), (b"x-gitlab-token", b"t")]), admitted)
    assert app.calls[1][1] == b"abc"


def test_a_body_slower_than_the_deadline_gets_408_and_the_app_never_runs() -> None:
    app, client = App(), Client(chunks(b"ab", b"cd")[:1], stall=True)
    timeouts = ProcessCount()
    middleware = WholeRequests(app, max_body_bytes=LIMIT, body_seconds=0.05, timeouts=timeouts)
    run(middleware, http_scope(CHUNKED), client)
    assert app.calls == []
    start, body = client.sent
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(body["body"]) == {
        "status": "rejected",
        "reason": MSG_BODY_TIMEOUT.format(seconds=0.05),
    }
    assert timeouts.count() == 1
    registry = CollectorRegistry()
    registry.register(BodyTimeoutsCollector(timeouts))
    scrape = generate_latest(registry).decode()
    assert "rollout_bot_request_body_timeouts_total 1.0" in scrape


def test_a_client_gone_before_its_body_ends_is_not_handled() -> None:
    app, client = App(), Client(chunks(b"ab", b"cd")[:1])  # then http.disconnect
    run(WholeRequests(app, max_body_bytes=LIMIT), http_scope(CHUNKED), client)
    assert app.calls == [] and client.sent == []


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_other_scopes_pass_through_untouched(kind: str) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    client = Client([])
    asyncio.run(
        WholeRequests(inner, max_body_bytes=LIMIT)({"type": kind}, client.receive, client.send)  # type: ignore[arg-type]
    )
    assert seen == [kind] and client.received == 0


def _time_out_one_request(timeouts: ProcessCount) -> None:
    app, client = App(), Client(chunks(b"ab", b"cd")[:1], stall=True)
    middleware = WholeRequests(app, max_body_bytes=LIMIT, body_seconds=0.05, timeouts=timeouts)
    run(middleware, http_scope(CHUNKED), client)


def test_a_timeout_in_one_forked_process_counts_in_all_of_them() -> None:
    # gunicorn forks its web processes from the one that loaded the app, and /metrics
    # is answered by whichever of them accepts the scrape: a count of each process's own
    # went 0, 0, 1, 0, 0, 1 over scrapes of a 2-process `serve`, which Prometheus
    # reads as counter resets.
    timeouts = ProcessCount()
    timeouts.share()  # as `serve` does before gunicorn forks
    exitcode = run_forked(_time_out_one_request, timeouts)
    assert exitcode == 0
    assert timeouts.count() == 1
