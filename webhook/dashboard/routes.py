"""The dashboard's routes: read, build the view model, render (HTML or its JSON twin).

Every route here is behind the dashboard token (`webhook.page_auth`), and reads
only: retries and changes stay in the CLI, where they leave a trace.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Final

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.engine import Engine

from flags.definitions import Registry
from flags.state import FlagState, default_state
from flags.store import Snapshot
from gitlab_ops import issue_updates
from tracking import FLAG as TRACKING_FLAG
from tracking.status import read_status
from webhook import inbox, page_auth
from webhook.dashboard import reads, render
from webhook.dashboard.flag_page import FlagPage, flag_page
from webhook.dashboard.grid import FlagRow, flag_row, grid
from webhook.dashboard.health import Health, health
from webhook.dashboard.instance_states import last_set, with_instances

NAME: Final = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
MAX_FILTER: Final = 255
LISTED_FAILURES: Final = 20
MSG_BAD_NAME: Final = "not a flag name: {name!r} (lowercase letters, digits and single underscores)"
MSG_UNKNOWN: Final = "no flag named {name!r}: it is not defined and was never set"
MSG_LONG_FILTER: Final = f"the name filter is longer than {MAX_FILTER} characters"

Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NotFound(Exception):
    """A flag the page cannot show; the message says why."""


def blueprint(
    engine: Engine,
    registry: Registry,
    environments: Sequence[str],
    token: str | None,
    clock: Clock = _now,
) -> Blueprint:
    pages = Blueprint("dashboard", __name__)
    envs = tuple(environments)

    @pages.before_request
    def guard() -> Response | None:
        return page_auth.refusal(token)

    def current() -> tuple[Snapshot, dict[str, str]]:
        """Flag states now: the database's, and the instances' as the bot last set them."""
        kept = {env: host for env, host in reads.instances(engine).items() if env in envs}
        snapshot = reads.snapshot(engine)
        if not kept:
            return snapshot, kept

        def default_for(name: str) -> FlagState:
            definition = registry.get(name)
            return default_state(bool(definition and definition.default_enabled))

        replayed = last_set(reads.instance_history(engine, kept), default_for)
        return with_instances(snapshot, kept, replayed), kept

    def rows(match: str, snapshot: Snapshot) -> list[FlagRow]:
        return grid(
            registry,
            snapshot,
            envs,
            reads.last_changes(engine),
            reads.issue_urls(engine),
            clock(),
            match,
        )

    def one_flag(name: str, snapshot: Snapshot) -> FlagPage:
        if not NAME.match(name):
            raise NotFound(MSG_BAD_NAME.format(name=name))
        records = reads.history(engine, name)
        definition = registry.get(name)
        stored = any(name in states for states in snapshot.states.values())
        if definition is None and not stored and not records:
            raise NotFound(MSG_UNKNOWN.format(name=name))
        now = clock()
        last = records[0] if records else None
        row = flag_row(
            name, definition, snapshot, envs, last, reads.issue_urls(engine, name).get(name), now
        )
        links = reads.note_links(engine, {r.delivery for r in records if r.delivery})
        hours: list[tuple[dt.datetime, int]] = []
        if name == TRACKING_FLAG:
            since = min((r.at for r in records), default=now) - dt.timedelta(days=1)
            hours = reads.events_per_hour(engine, since)
        return flag_page(row, records, links, hours, envs, now, tracked=name == TRACKING_FLAG)

    def bot_health() -> Health:
        return health(
            inbox.counts(engine),
            reads.oldest_waiting(engine),
            inbox.listing(engine, [inbox.FAILED], limit=LISTED_FAILURES),
            issue_updates.counts(engine),
            read_status(engine),
            clock(),
        )

    def match_filter() -> str:
        match = request.args.get("q", "")
        if len(match) > MAX_FILTER:
            raise NotFound(MSG_LONG_FILTER)
        return match

    @pages.get("/")
    def flags_page() -> Response | str:
        try:
            match = match_filter()
        except NotFound as exc:
            return _plain(str(exc), 400)
        snapshot, kept = current()
        return render.page(
            "flags.j2",
            rows=rows(match, snapshot),
            environments=envs,
            instances=kept,
            match=match,
            active="flags",
        )

    @pages.get("/flags/<name>")
    def flag_html(name: str) -> Response | str:
        snapshot, kept = current()
        try:
            model = one_flag(name, snapshot)
        except NotFound as exc:
            return _plain(str(exc), 404)
        return render.page("flag.j2", page=model, environments=envs, instances=kept, active="flags")

    @pages.get("/health")
    def health_page() -> str:
        return render.page("health.j2", health=bot_health(), active="health")

    @pages.get("/api/flags")
    def flags_json() -> Response | tuple[Response, int]:
        try:
            match = match_filter()
        except NotFound as exc:
            return jsonify(error=str(exc)), 400
        snapshot, kept = current()
        return jsonify(
            environments=list(envs),
            instances=kept,
            flags=[row.as_dict() for row in rows(match, snapshot)],
        )

    @pages.get("/api/flags/<name>/history")
    def history_json(name: str) -> Response | tuple[Response, int]:
        try:
            model = one_flag(name, current()[0])
        except NotFound as exc:
            return jsonify(error=str(exc)), 404
        return jsonify(model.history_dict())

    @pages.get("/api/health")
    def health_json() -> Response:
        return jsonify(bot_health().as_dict())

    return pages


def _plain(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
