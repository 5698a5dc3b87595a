"""The HTTP session under python-gitlab: no retries of its own, and what GitLab asked us to wait.

Retries are the worker's alone (`webhook.worker`): python-gitlab's are switched off
per request (`gitlab_ops.client`), and the adapters here repeat nothing, so a POST
that may have reached GitLab is never sent twice by the HTTP layer.

python-gitlab's errors carry no response headers, so a response hook notes the
`Retry-After` of each 429 or 503 as it arrives. Hooks run in the thread that made
the request, and each thread makes one request at a time, so a thread-local keeps
concurrent deliveries (sharing one session) from reading each other's answers.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gitlab_ops.retry import parse_retry_after

WAIT_STATUSES = frozenset({429, 503})

_seen = threading.local()


def _note_retry_after(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    waiting = response.status_code in WAIT_STATUSES
    header = response.headers.get("Retry-After") if waiting else None
    _seen.retry_after = parse_retry_after(header)


def last_retry_after() -> float | None:
    """The `Retry-After` of this thread's last response, in seconds, if it asked to wait."""
    value: float | None = getattr(_seen, "retry_after", None)
    return value


def prepare(session: requests.Session) -> requests.Session:
    """Make `session` retry nothing and note `Retry-After`; safe to call again."""
    if not getattr(session, "_rollout_bot_prepared", False):
        # total=0: no connect, read or status retries for any method, POST included.
        adapter = HTTPAdapter(max_retries=Retry(total=0, read=False, redirect=False))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.hooks["response"].append(_note_retry_after)
        session._rollout_bot_prepared = True  # type: ignore[attr-defined]
    return session
