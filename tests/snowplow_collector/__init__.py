"""A Snowplow collector on loopback: records every tp2 POST and answers as told.

It speaks the collector's side of the tracker protocol
(https://docs.snowplow.io/docs/sources/trackers/snowplow-tracker-protocol/):
`POST /com.snowplowanalytics.snowplow/tp2` with a `payload_data` document.
Every body is validated (see `iglu.py`) against the Iglu schemas of one
folder: tests/fixtures/iglu unless told otherwise (conformance/ passes the
public ones): the payload against payload_data 1-0-4, each decoded context
list (`cx` base64 or `co`) against contexts 1-0-1, and each gitlab_standard
context against its 1-0-10 schema. Problems are kept in `errors`, for the
test to assert empty, and do not change the answer: a real collector accepts
first and validates downstream.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.snowplow_collector.iglu import FIXTURE_IGLU, IgluSchemas

TP2 = "/com.snowplowanalytics.snowplow/tp2"
TOO_LARGE = 413

EventTest = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Stall:
    """Hold the request `seconds` (or until the collector stops), then answer `status`."""

    seconds: float
    status: int = 200


@dataclass
class Recorded:
    status: int
    events: list[dict[str, Any]]
    at: float = field(default_factory=time.monotonic)

    @property
    def event_ids(self) -> list[str]:
        return [event["eid"] for event in self.events]


class _QuietHandler(WSGIRequestHandler):
    # Keep-alive, as a real collector behind a load balancer offers it.
    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Collector:
    """`record=False` keeps only counts and event ids, for long benchmark runs.

    `iglu` is the folder of schemas every body is validated against.
    """

    def __init__(
        self, *, validate: bool = True, record: bool = True, iglu: Path = FIXTURE_IGLU
    ) -> None:
        self.validate = validate
        self.record = record
        self.requests: list[Recorded] = []
        self.accepted_count = 0
        self.accepted_event_ids: set[str] = set()
        self.errors: list[str] = []
        self.default: int | Stall = 200
        # Over this many events in one POST: 413, as a collector with a body limit.
        self.max_events: int | None = None
        self._refusals: list[tuple[EventTest, int]] = []
        self._script: deque[int | Stall] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.schemas = IgluSchemas(iglu) if validate else None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Collector:
        server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "collector not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    # -- programming the answers -------------------------------------------------------

    def answer(self, *answers: int | Stall) -> None:
        """Answer the next requests with these, in order; then `default`."""
        with self._lock:
            self._script.extend(answers)

    def refuse(self, test: EventTest, status: int) -> None:
        """Answer `status` to every POST holding an event `test` picks (a poison event)."""
        with self._lock:
            self._refusals.append((test, status))

    def accept_all(self) -> None:
        """Stop refusing events and lift the size limit."""
        with self._lock:
            self._refusals.clear()
            self.max_events = None

    # -- what arrived --------------------------------------------------------------------

    def accepted(self) -> list[dict[str, Any]]:
        """Every event of every request answered 2xx, in arrival order."""
        with self._lock:
            return [e for r in self.requests if 200 <= r.status < 300 for e in r.events]

    def accepted_ids(self) -> list[str]:
        return [event["eid"] for event in self.accepted()]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` events were accepted; all accepted events."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                accepted = [e for r in self.requests if 200 <= r.status < 300 for e in r.events]
                left = deadline - time.monotonic()
                if len(accepted) >= count or left <= 0:
                    return accepted
                self._arrived.wait(left)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "accepted_events": self.accepted_count,
                "unique_event_ids": len(self.accepted_event_ids),
                "errors": len(self.errors),
            }

    # -- the collector ----------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path == "/stats":
            return Response(json.dumps(self.stats()), mimetype="application/json")(
                environ, start_response
            )
        if request.method != "POST" or request.path != TP2:
            return Response("not found", status=404)(environ, start_response)
        try:
            body = json.loads(request.get_data())
        except ValueError as exc:
            self._error(f"body is not JSON: {exc}")
            return Response("bad json", status=400)(environ, start_response)
        events = body.get("data", []) if isinstance(body, dict) else []
        if self.schemas is not None:
            for problem in self.schemas.body_problems(body):
                self._error(problem)
        with self._lock:
            answer = self._answer(events)
        if isinstance(answer, Stall):
            self._closing.wait(answer.seconds)
            answer = answer.status
        with self._arrived:
            if 200 <= answer < 300:
                self.accepted_count += len(events)
                self.accepted_event_ids.update(event.get("eid", "") for event in events)
            if self.record:
                self.requests.append(Recorded(answer, events))
            self._arrived.notify_all()
        return Response("ok" if answer < 400 else "no", status=answer)(environ, start_response)

    def _answer(self, events: list[dict[str, Any]]) -> int | Stall:
        """The size limit first, then refusals, then the script (holding the lock)."""
        if self.max_events is not None and len(events) > self.max_events:
            return TOO_LARGE
        for test, status in self._refusals:
            if any(test(event) for event in events):
                return status
        return self._script.popleft() if self._script else self.default

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
