"""`POST /webhook`: verify, classify, store in the inbox, answer in milliseconds.

Statuses: 401 bad token or signature, 413 too large, 400 broken body (nothing
stored for any of them); 200 for events the bot does not handle, 202 for
queued ones (also for a redelivery of a stored one). GitLab disables a hook
after four failures in a row, so nothing the bot merely ignores is an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, request
from sqlalchemy.engine import Engine
from werkzeug.exceptions import RequestEntityTooLarge

from flags.database import SQLITE_BUSY_TIMEOUT_MS, WriterTurnTimeout
from gitlab_ops.schema import rollout_issues
from webhook import inbox
from webhook.classify import classify
from webhook.payload import Event
from webhook.verification import MSG_BODY_TOO_LARGE, DeliveryRejected, Verification

log = logging.getLogger(__name__)


@dataclass
class ReceiverConfig:
    """``bot_user_id`` must not call GitLab: nothing in the request path may wait on it
    (the worker ignores the bot's own events either way)."""

    engine: Engine
    verification: Verification
    project_ids: Collection[int] | None = None
    bot_user_id: Callable[[], int | None] = lambda: None
    on_queued: Callable[[], None] = lambda: None
    # How long a delivery waits for its turn to write on SQLite before a 503.
    store_wait_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000


# Bound as BIGINT: any id a payload carries (up to 2**63 - 1) is looked up, while an
# INTEGER parameter would make PostgreSQL refuse one past 2**31 (a 500).
_ROLLOUT_ISSUE = sa.select(rollout_issues.c.flag).where(
    rollout_issues.c.project_id == sa.bindparam("project_id", type_=sa.BigInteger),
    rollout_issues.c.issue_iid == sa.bindparam("iid", type_=sa.BigInteger),
)


def is_rollout_issue(engine: Engine) -> Callable[[int, int], bool]:
    """A lookup that remembers the rollout issues it found.

    Rollout issues are only ever added, so a "yes" stays true; a "no" is asked
    again each time, since the issue may be recorded a moment later.
    """
    known: set[tuple[int, int]] = set()

    def lookup(project_id: int, iid: int) -> bool:
        if (project_id, iid) in known:
            return True
        with engine.connect() as conn:
            row = conn.execute(_ROLLOUT_ISSUE, {"project_id": project_id, "iid": iid}).first()
        if row is not None:
            known.add((project_id, iid))
        return row is not None

    return lookup


def blueprint(config: ReceiverConfig) -> Blueprint:
    bp = Blueprint("webhook", __name__)
    rollout_issue = is_rollout_issue(config.engine)

    def answer(code: int, **body: Any) -> tuple[Response, int]:
        # json.dumps straight into a Response: Flask's jsonify cost a tenth of
        # the whole request here.
        return Response(json.dumps(body), content_type="application/json"), code

    @bp.post("/webhook")
    def receive() -> tuple[Response, int]:
        length = request.content_length
        limit = config.verification.max_body_bytes
        too_large = MSG_BODY_TOO_LARGE.format(limit=limit)
        if length is not None and length > limit:
            # Refuse before reading: a huge body costs nothing but this check.
            return answer(413, status="rejected", reason=too_large)
        # Werkzeug then stops reading a chunked body (no Content-Length) one byte past
        # the limit instead of reading it whole: a body that long is refused just below
        # (413) by its length, and one of exactly the limit still fits.
        request.max_content_length = limit + 1
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return answer(413, status="rejected", reason=too_large)
        try:
            event = Event.from_http(dict(request.headers), body, verification=config.verification)
        except DeliveryRejected as exc:
            log.info("webhook rejected (%s): %s", exc.status, exc.message)
            return answer(exc.status, status="rejected", reason=exc.message)
        decision = classify(
            event,
            project_ids=config.project_ids,
            bot_user_id=config.bot_user_id(),
            is_rollout_issue=rollout_issue,
        )
        if not decision.queue:
            return answer(200, status="ignored", reason=decision.reason)
        try:
            created = inbox.store(
                config.engine,
                delivery_key=event.delivery_key,
                kind=event.kind or "",
                project_id=event.project_id,
                issue_iid=event.issue_iid,
                event_uuid=event.event_uuid,
                payload=body.decode("utf-8"),
                turn_timeout=config.store_wait_seconds,
            )
        except WriterTurnTimeout as exc:
            log.warning("webhook not stored: %s", exc)
            return answer(503, status="error", reason=f"not stored, try again: {exc}")
        if created:
            config.on_queued()
        return answer(202, status="queued" if created else "duplicate", reason=decision.reason)

    return bp
