"""Webhook delivery: headers as GitLab sends them, recursion detection, redelivery.

Headers: https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers
(`webhook-id`, `webhook-timestamp` and `webhook-signature` from GitLab 19.0).
Recursion detection follows `Gitlab::WebHooks::RecursionDetection`: an API request
that carries an `X-Gitlab-Event-UUID` continues that event's chain, and a hook
already called in the chain (or a chain of 100 hooks) is blocked.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from tests.fake_gitlab.models import Hook

RECURSION_LIMIT = 100

# ActiveSupport's JSON encoder escapes these inside strings; receivers must hash raw bytes.
_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def encode_body(payload: dict[str, Any]) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode()


@dataclass
class Delivery:
    """One HTTP request to a hook URL, and what the receiver answered."""

    id: int
    hook_id: int
    url: str
    event: str
    headers: dict[str, str]
    body: bytes
    redelivery_of: int | None = None
    status_code: int | None = None
    error: str | None = None
    response_body: str = ""

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str:
        return self.headers["Idempotency-Key"]

    @property
    def event_uuid(self) -> str:
        return self.headers["X-Gitlab-Event-UUID"]


@dataclass(frozen=True)
class Blocked:
    """A delivery GitLab did not send: `reason` is "recursion" or "disabled"."""

    hook_id: int
    event: str
    event_uuid: str
    reason: str


class Deliverer:
    """Builds and sends deliveries, synchronously or from one background thread (in order)."""

    def __init__(
        self,
        *,
        instance_url: Callable[[], str],
        version: str,
        timeout: float = 10.0,
        background: bool = False,
    ) -> None:
        self._instance_url = instance_url
        self._version = version
        self._timeout = timeout
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._next_id = 0
        self._chains: dict[str, set[int]] = {}
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self.blocked: list[Blocked] = []
        self._queue: queue.Queue[Delivery | None] | None = None
        self._worker: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._worker = threading.Thread(target=self._drain, name="fake-gitlab-hooks")
            self._worker.daemon = True
            self._worker.start()

    def add_hook(self, url: str, **options: Any) -> Hook:
        with self._lock:
            hook = Hook(id=len(self.hooks) + 1, uuid=str(uuid.uuid4()), url=url, **options)
            self.hooks.append(hook)
            return hook

    def prepare(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        project_id: int,
        wants: Callable[[Hook], bool],
        request_uuid: str | None,
    ) -> list[Delivery]:
        """Record one delivery per interested hook; `send` them once the state lock is free."""
        body = encode_body(payload)
        event_uuid = request_uuid or str(uuid.uuid4())
        prepared: list[Delivery] = []
        with self._lock:
            chain = self._chains.setdefault(event_uuid, set())
            for hook in self.hooks:
                if hook.project_id not in (None, project_id) or not wants(hook):
                    continue
                if request_uuid and (hook.id in chain or len(chain) >= RECURSION_LIMIT):
                    self.blocked.append(Blocked(hook.id, event, event_uuid, "recursion"))
                    continue
                if hook.disabled:
                    self.blocked.append(Blocked(hook.id, event, event_uuid, "disabled"))
                    continue
                chain.add(hook.id)
                key = str(uuid.uuid4())
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": f"GitLab/{self._version}",
                    "X-Gitlab-Event": event,
                    "X-Gitlab-Webhook-UUID": hook.uuid,
                    "X-Gitlab-Instance": self._instance_url(),
                    "X-Gitlab-Event-UUID": event_uuid,
                    "Idempotency-Key": key,
                }
                if hook.token:
                    headers["X-Gitlab-Token"] = hook.token
                prepared.append(self._record(hook, event, headers, body, None))
        return prepared

    def redeliver(self, delivery_id: int) -> Delivery:
        """GitLab's "Resend Request": the same body and headers, the same Idempotency-Key."""
        with self._lock:
            original = next((d for d in self.deliveries if d.id == delivery_id), None)
            if original is None:
                raise KeyError(f"no delivery {delivery_id}")
            hook = next(h for h in self.hooks if h.id == original.hook_id)
            headers = {k: v for k, v in original.headers.items() if not k.startswith("webhook-")}
            again = self._record(hook, original.event, headers, original.body, original.id)
        self.send([again])
        return again

    def send(self, deliveries: list[Delivery]) -> None:
        with self._lock:
            self._pending += len(deliveries)
        for delivery in deliveries:
            if self._queue is not None:
                self._queue.put(delivery)
            else:
                self._post(delivery)

    def snapshot(self) -> tuple[list[Hook], list[Delivery], list[Blocked]]:
        with self._lock:
            return list(self.hooks), list(self.deliveries), list(self.blocked)

    def wait(self, timeout: float = 10.0) -> bool:
        """True once every queued delivery has been answered (or has failed)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        if self._queue is not None and self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=self._timeout + 1)
            self._queue = self._worker = None

    def _record(
        self, hook: Hook, event: str, headers: dict[str, str], body: bytes, of: int | None
    ) -> Delivery:
        self._next_id += 1
        if hook.signing_token:
            # Standard Webhooks (GitLab 19.0): webhook-id is the Idempotency-Key.
            msg_id = headers["Idempotency-Key"]
            now = datetime.now(UTC)
            signature = Webhook(hook.signing_token).sign(msg_id, now, body.decode())
            headers = headers | {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            }
        delivery = Delivery(self._next_id, hook.id, hook.url, event, headers, body, of)
        self.deliveries.append(delivery)
        return delivery

    def _drain(self) -> None:
        assert self._queue is not None
        while (delivery := self._queue.get()) is not None:
            self._post(delivery)

    def _post(self, delivery: Delivery) -> None:
        status, error, text = None, None, ""
        try:
            response = requests.post(
                delivery.url,
                data=delivery.body,
                headers=delivery.headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
            status, text = response.status_code, response.text[:2000]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self._idle:
            delivery.status_code, delivery.error, delivery.response_body = status, error, text
            hook = next(h for h in self.hooks if h.id == delivery.hook_id)
            ok = status is not None and 200 <= status < 300
            hook.recent_failures = 0 if ok else hook.recent_failures + 1
            self._pending -= 1
            self._idle.notify_all()
