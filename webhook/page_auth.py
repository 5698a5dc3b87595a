"""The private pages (`/`, `/metrics`): a token, as a bearer token or a basic-auth password.

The dashboard lists rollout issue URLs (confidential ones too), flag states and inbox
errors, and it shares the webhook's port, so it is never public. Scrapers send
``Authorization: Bearer <token>``; a browser logs in with basic auth, any user name and
the token as password. Without a configured token the pages are off (404): a missing
setting must not open them. `/webhook` and `/healthz` stay public.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from flask import Response, request

REALM: Final = "rollout-bot"
MSG_TOKEN_REQUIRED: Final = (
    "this page needs ROLLOUT_BOT_DASHBOARD_TOKEN: a bearer token, or the basic-auth password\n"
)
MSG_PAGES_OFF: Final = "this page is off: set ROLLOUT_BOT_DASHBOARD_TOKEN to turn it on\n"


def _digest(value: str) -> bytes:
    # Equal-length digests for compare_digest, and the token's length does not leak.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _given() -> str | None:
    auth = request.authorization  # Werkzeug parses Basic and Bearer alike
    if auth is None:
        return None
    if auth.type == "basic":
        return auth.password
    if auth.type == "bearer":
        return auth.token
    return None


def refusal(token: str | None) -> Response | None:
    """None when the request may see the page, else the answer to give instead."""
    if token is None:
        return Response(MSG_PAGES_OFF, status=404, content_type="text/plain; charset=utf-8")
    given = _given()
    if given is not None and hmac.compare_digest(_digest(given), _digest(token)):
        return None
    response = Response(MSG_TOKEN_REQUIRED, status=401, content_type="text/plain; charset=utf-8")
    response.headers.add("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')
    response.headers.add("WWW-Authenticate", f'Bearer realm="{REALM}"')
    return response
