"""The dashboard's routes through the Flask test client, on SQLite and PostgreSQL:
the token, bad input, the grid's JSON twin, a flag's history, the bot's health."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from flask.testing import FlaskClient

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.schema import flag_audit, flag_instances
from gitlab_ops.schema import rollout_issues
from rollout_bot.cli import main
from tests.conftest import DEFINITIONS
from tests.dashboard_scene import DEFINITIONS_ENV
from tracking import FLAG as TRACKING_FLAG
from tracking.schema import sent_hourly
from webhook import inbox
from webhook.app import create_app
from webhook.dashboard.grid import INCONSISTENT
from webhook.dashboard.routes import MSG_BAD_NAME, MSG_LONG_FILTER, MSG_UNKNOWN

TOKEN = "pages-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAGES = ["/", "/flags/comment_audit_log", "/health", "/api/flags", "/api/health"]
PAGES += ["/api/flags/comment_audit_log/history"]
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@dataclass
class Pages:
    client: FlaskClient
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        result = CliRunner(env=self.env).invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout


@pytest.fixture
def pages(database_url: str) -> Iterator[Pages]:
    engine = make_engine(database_url)
    registry = load(configured_roots(DEFINITIONS_ENV))
    app = create_app(engine, registry=registry, dashboard_token=TOKEN)
    env = {"ROLLOUT_BOT_DATABASE_URL": database_url, **DEFINITIONS_ENV}
    yield Pages(app.test_client(), env)
    engine.dispose()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_401_without_the_token_and_200_with_it(pages: Pages, path: str) -> None:
    assert pages.client.get(path).status_code == 401
    assert pages.client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert pages.client.get(path, headers=AUTH).status_code == 200


def test_without_a_configured_token_the_pages_are_off(database_url: str) -> None:
    engine = make_engine(database_url)
    client = create_app(engine).test_client()
    try:
        for path in PAGES:
            assert client.get(path, headers=AUTH).status_code == 404
    finally:
        engine.dispose()


def test_bad_input_gets_one_line_and_changes_nothing(pages: Pages) -> None:
    bad = pages.client.get("/flags/Not-A-Flag", headers=AUTH)
    assert bad.status_code == 404
    assert bad.text == MSG_BAD_NAME.format(name="Not-A-Flag") + "\n"
    unknown = pages.client.get("/api/flags/no_such_flag/history", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json == {"error": MSG_UNKNOWN.format(name="no_such_flag")}
    long = "x" * 256
    assert pages.client.get(f"/?q={long}", headers=AUTH).text == MSG_LONG_FILTER + "\n"
    assert pages.client.get(f"/api/flags?q={long}", headers=AUTH).status_code == 400
    assert json.loads(pages.cli("feature", "history", "comment_audit_log", "--json")) == []


def test_the_grid_twin_lists_states_last_changes_and_inconsistent_flags(pages: Pages) -> None:
    pages.cli("feature", "set", "comment_audit_log", "true", "--dev", "--staging")
    pages.cli(
        "feature", "set", "webhook_fast_ack", "false", "--staging",
        "--ignore-feature-flag-consistency-check",
    )  # fmt: skip
    pages.cli(
        "feature", "set", "issue_template_v2", "true", "--ignore-feature-flag-consistency-check"
    )  # fmt: skip

    listing = pages.client.get("/api/flags", headers=AUTH).json
    rows = {row["name"]: row for row in listing["flags"]}
    assert listing["environments"] == ["dev", "staging", "staging-ref", "production"]
    assert sorted(rows) == load(configured_roots(DEFINITIONS_ENV)).names()
    audit = rows["comment_audit_log"]
    assert {env: s["text"] for env, s in audit["states"].items()} == {
        "dev": "on",
        "staging": "on",
        "staging-ref": "off (default)",
        "production": "off (default)",
    }
    assert audit["last_change"]["environment"] == "staging"
    assert audit["inconsistency"] is None
    # Default-on in production while staging was turned off; and forced on in production.
    assert rows["webhook_fast_ack"]["inconsistency"] == INCONSISTENT.format(production="fully")
    assert rows["issue_template_v2"]["inconsistency"] == INCONSISTENT.format(production="fully")
    assert rows["dashboard_flag_search"]["last_change"] is None

    filtered = pages.client.get("/api/flags?q=WEBHOOK", headers=AUTH).json
    assert [row["name"] for row in filtered["flags"]] == [
        "webhook_auto_disable",
        "webhook_fast_ack",
    ]
    html = pages.client.get("/?q=webhook", headers=AUTH).text
    assert html.count('class="inconsistent"') == 1
    assert "<script>" in html and 'value="webhook"' in html


def test_a_flags_history_twin_is_feature_history_with_the_chart_data(pages: Pages) -> None:
    pages.cli("feature", "set", "comment_audit_log", "true", "--staging")
    pages.cli("feature", "set", "comment_audit_log", "25", "--actors")
    pages.cli("feature", "delete", "comment_audit_log")

    twin = pages.client.get("/api/flags/comment_audit_log/history", headers=AUTH).json
    history = json.loads(pages.cli("feature", "history", "comment_audit_log", "--json"))
    assert [{k: v for k, v in row.items() if k != "link"} for row in twin["history"]] == history
    series = {s["environment"]: s for s in twin["series"]}
    assert [p["percent"] for p in series["production"]["points"]] == [25, 0]
    assert [p["at"] for p in series["staging"]["points"]] == [history[-1]["at"]]
    assert twin["events_per_hour"] == []  # only the tracking flag has them
    page = pages.client.get("/flags/comment_audit_log", headers=AUTH).text
    assert page.count('class="point"') == 3
    assert "rect" not in page  # no events panel for this flag
    assert "feature set comment_audit_log 25 --actors" in page


def test_health_lists_failed_deliveries_with_the_retry_command(
    pages: Pages, database_url: str
) -> None:
    engine = make_engine(database_url)
    try:
        for key in ("a", "b"):
            inbox.store(
                engine,
                delivery_key=key,
                kind="issue",
                project_id=1,
                issue_iid=2,
                event_uuid=None,
                payload="{}",
            )
        claimed = inbox.claim(engine, "w1", lease=30)
        assert claimed is not None
        inbox.fail(engine, claimed.id, "w1", error="GitLab said 403 <forbidden>")
    finally:
        engine.dispose()

    twin = pages.client.get("/api/health", headers=AUTH).json
    assert twin["inbox"]["counts"] == {"pending": 1, "processing": 0, "done": 0, "failed": 1}
    assert twin["inbox"]["oldest_waiting"] is not None
    (failure,) = twin["inbox"]["failures"]
    assert failure["retry"] == f"rollout-bot inbox retry {claimed.id}"
    assert twin["tracking"]["outbox"]["waiting"] == 0
    page = pages.client.get("/health", headers=AUTH).text
    assert "GitLab said 403 &lt;forbidden&gt;" in page  # escaped
    assert f"<code>rollout-bot inbox retry {claimed.id}</code>" in page
    assert "rollout-bot inbox retry --failed" in page


# Audit rows hold JSON written by older versions, other tools sharing the tables, or a
# hand repair: a value of a shape no command writes must not take the page down.
ODD_AUDIT_VALUES = [
    ("percentage_of_actors", None, None),
    ("percentage_of_time", 0, "abc"),
    ("percentage_of_actors", 0, "NaN"),
    ("actors", None, None),
    ("actors", [], [1, None]),
    ("groups", [], {"a": 1}),
    ("all", None, [1, 2]),
    ("all", None, {"percentage_of_actors": "x", "actors": "alice"}),
]


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


@pytest.mark.parametrize(("gate", "before", "after"), ODD_AUDIT_VALUES)
def test_an_audit_row_of_an_odd_shape_is_shown_not_a_500(
    pages: Pages, database_url: str, gate: str, before: object, after: object
) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(flag_instances).values(
                    environment="production", instance="gitlab.example", updated_at=NOW
                )
            )
            conn.execute(
                sa.insert(flag_audit).values(
                    at=NOW, environment="production", feature="comment_audit_log",
                    action="enable", gate=gate, before=before, after=after, who="someone",
                    source="cli",
                )
            )  # fmt: skip
    finally:
        engine.dispose()

    for path in ("/", "/api/flags", "/flags/comment_audit_log"):
        assert pages.client.get(path, headers=AUTH).status_code == 200, path
    twin = pages.client.get("/api/flags/comment_audit_log/history", headers=AUTH)
    assert twin.status_code == 200
    strict = json.loads(twin.text, parse_constant=_no_constant)
    assert strict["history"][0]["after"] == after
    (point,) = {s["environment"]: s for s in twin.json["series"]}["production"]["points"]
    assert 0 <= point["percent"] <= 100
    assert pages.cli("feature", "history", "comment_audit_log").count("someone") == 1


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value or "" for name, value in attrs if name == "href"]


def _hrefs(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


UNSAFE_URLS = {
    "introduced_by_url": "javascript:alert(document.cookie)",
    "feature_issue_url": " JaVa\tScript:alert(1)",
    "rollout_issue_url": "data:text/html,<script>alert(1)</script>",
}


def test_a_url_someone_typed_is_linked_only_when_it_is_http(
    tmp_path: Path, database_url: str
) -> None:
    root = tmp_path / "feature_flags"
    shutil.copytree(DEFINITIONS, root)
    (root / "development" / "comment_audit_log.yml").write_text(
        yaml.safe_dump(
            {
                "name": "comment_audit_log",
                "type": "development",
                "group": "group::rollout bot",
                "milestone": "15.1",
                "default_enabled": False,
                **UNSAFE_URLS,
            }
        )
    )
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(rollout_issues).values(
                    project_id=1, issue_iid=7, flag="webhook_fast_ack",
                    web_url="vbscript:msgbox(1)", created_at=NOW,
                )
            )  # fmt: skip
        registry = load([root])
        client = create_app(engine, registry=registry, dashboard_token=TOKEN).test_client()
        grid = client.get("/", headers=AUTH).text
        flag = client.get("/flags/comment_audit_log", headers=AUTH).text
    finally:
        engine.dispose()

    for html in (grid, flag):
        for href in _hrefs(html):
            assert href.startswith(("/", "https://", "http://")), href
    # Shown as text, so a reader still sees what the definition says.
    assert "javascript:alert(document.cookie)" in flag
    assert "vbscript:msgbox(1)" in grid
    assert 'href="https://gitlab.example.com/' in grid  # a good URL stays a link


@pytest.mark.postgres
def test_hours_are_shown_in_utc_whatever_zone_the_database_session_has(
    postgres_engine: sa.Engine,
) -> None:
    # A server's own `timezone` setting is often local time; half an hour off shows
    # plainly whether an hour was labelled in the session's zone.
    url = postgres_engine.url.set(query={"options": "-c timezone=Asia/Kolkata"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(flag_audit).values(
                    at=NOW, environment="production", feature=TRACKING_FLAG, action="enable",
                    gate="boolean", before=False, after=True, who="someone", source="cli",
                )
            )  # fmt: skip
            conn.execute(
                sa.insert(sent_hourly).values(
                    hour=NOW.replace(minute=0) + dt.timedelta(hours=1),
                    table_name="group_stages",
                    op="insert",
                    events=7,
                )
            )
        client = create_app(engine, dashboard_token=TOKEN).test_client()
        page = client.get(f"/flags/{TRACKING_FLAG}", headers=AUTH).text
        twin = client.get(f"/api/flags/{TRACKING_FLAG}/history", headers=AUTH).json
    finally:
        engine.dispose()

    assert twin["events_per_hour"] == [{"hour": "2026-03-02T10:00:00+00:00", "events": 7}]
    assert '<time datetime="2026-03-02T10:00:00+00:00">2026-03-02 10:00</time>' in page
    assert "2026-03-02 09:30:00 UTC" in page  # the change, in the timeline
