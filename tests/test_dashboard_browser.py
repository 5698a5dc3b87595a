"""The dashboard in a real browser: Debian's Chromium through Playwright, a real `serve`.

One scene (a rollout made through ticks, comments, the CLI and tracked writes), one
server and one browser for the whole module, so these tests stay quick. Each page
is loaded as a person would, with no console errors, and leaves a screenshot in
the test's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from playwright.sync_api import Browser

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.environments import DEFAULT_ENVIRONMENTS
from rollout_bot.cli import main
from tests.dashboard_browser import TOKEN, Visitor, chromium, served_scene, visitor
from tests.dashboard_scene import DEFINITIONS_ENV, PRODUCTION_RAMP, Scene
from tracking import sent_counts
from webhook import inbox

Served = tuple[Scene, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_scene(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def browser_visitor(browser: Browser) -> Iterator[Visitor]:
    with visitor(browser) as seen:
        yield seen


def cli_json(scene: Scene, *args: str) -> Any:
    env = {"ROLLOUT_BOT_DATABASE_URL": scene.database_url, **DEFINITIONS_ENV}
    result = CliRunner(env=env).invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_grid_shows_every_flag_and_environment(
    served: Served, browser_visitor: Visitor, tmp_path: Path
) -> None:
    scene, base = served
    page = browser_visitor.open(f"{base}/")
    page.screenshot(path=str(tmp_path / "flags.png"), full_page=True)

    headers = page.locator("#flags thead th").all_inner_texts()
    assert headers[1 : 1 + len(DEFAULT_ENVIRONMENTS)] == list(DEFAULT_ENVIRONMENTS)
    names = page.locator("#flags tbody tr").evaluate_all("rows => rows.map(r => r.dataset.flag)")
    assert names == load(configured_roots(DEFINITIONS_ENV)).names()
    listed = cli_json(scene, "feature", "list")["flags"]
    for flag in listed:
        row = page.locator(f'#flags tr[data-flag="{flag["name"]}"]')
        cells = row.locator("td[data-env]").evaluate_all(
            "cells => cells.map(c => [c.dataset.env, c.dataset.state])"
        )
        assert cells == [[env, s["state"]] for env, s in flag["environments"].items()]
    inconsistent = page.locator("#flags tr.inconsistent").evaluate_all(
        "rows => rows.map(r => r.dataset.flag)"
    )
    assert inconsistent == [scene.inconsistent_flag]
    assert page.locator(f'#flags tr[data-flag="{scene.flag}"] a[href="{scene.issue_url}"]').count()
    assert browser_visitor.errors == []


def test_the_name_filter_hides_other_rows_as_you_type(
    served: Served, browser_visitor: Visitor
) -> None:
    _, base = served
    page = browser_visitor.open(f"{base}/")
    page.fill("#q", "webhook_")
    visible = page.locator("#flags tbody tr:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.flag)"
    )
    assert visible == ["webhook_auto_disable", "webhook_fast_ack"]
    page = browser_visitor.open(f"{base}/?q=webhook_")  # the same without script
    assert page.locator("#flags tbody tr").count() == 2
    assert browser_visitor.errors == []


def _points(page: Any) -> dict[str, list[tuple[str, float, int]]]:
    found = page.locator("#rollout-chart circle.point").evaluate_all(
        "cs => cs.map(c => [c.dataset.env, c.dataset.at, Number(c.dataset.percent), "
        "Number(c.dataset.targets)])"
    )
    points: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for env, at, percent, targets in found:
        points[env].append((at, percent, targets))
    return points


def test_the_flag_chart_has_a_line_per_environment_matching_feature_history(
    served: Served, browser_visitor: Visitor, tmp_path: Path
) -> None:
    scene, base = served
    page = browser_visitor.open(f"{base}/flags/{scene.flag}")
    page.screenshot(path=str(tmp_path / "flag.png"), full_page=True)

    lines = page.locator("#rollout-chart g.series").evaluate_all(
        "gs => gs.map(g => [g.dataset.env, g.querySelectorAll('polyline').length])"
    )
    assert lines == [[env, 1] for env in DEFAULT_ENVIRONMENTS]
    history = cli_json(scene, "feature", "history", scene.flag)
    expected: dict[str, list[str]] = defaultdict(list)
    for row in reversed(history):  # oldest first, as the line runs
        expected[row["environment"]].append(row["at"])
    points = _points(page)
    assert {env: [at for at, _, _ in pts] for env, pts in points.items()} == expected
    assert [(percent, targets) for _, percent, targets in points["production"]] == PRODUCTION_RAMP
    for env in ("dev", "staging", "staging-ref"):
        assert [(percent, targets) for _, percent, targets in points[env]] == [(100, 0)]
    # Actors on show as a hollow marker, bigger than the others.
    hollow = page.locator("#rollout-chart circle.point[fill='#fff']").count()
    assert hollow == sum(1 for *_, targets in points["production"] if targets)
    assert page.locator("#timeline tbody tr").count() == len(history)
    assert page.locator("#timeline a", has_text="the bot's comment").count() >= 1
    assert "production: 0% → 25% → 50% → 100%" in page.locator("#chart-summary").inner_text()
    assert browser_visitor.errors == []


def test_the_events_per_hour_are_the_trackers_own_counts(
    served: Served, browser_visitor: Visitor
) -> None:
    scene, base = served
    page = browser_visitor.open(f"{base}/flags/{scene.flag}")
    bars = page.locator("#rollout-chart rect.bar").evaluate_all(
        "rs => rs.map(r => [r.dataset.hour, Number(r.dataset.events)])"
    )
    engine = make_engine(scene.database_url)
    try:
        counted = sent_counts.by_hour(engine, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    finally:
        engine.dispose()
    per_hour: dict[str, int] = defaultdict(int)
    for count in counted:
        assert count.table == "group_stages"
        per_hour[count.hour.isoformat()] += count.events
    assert bars == [[hour, events] for hour, events in sorted(per_hour.items())]
    assert sum(events for _, events in bars) == scene.events_accepted > 0
    assert browser_visitor.errors == []


def test_bot_health_shows_the_inbox_and_the_tracker(
    served: Served, browser_visitor: Visitor, tmp_path: Path
) -> None:
    scene, base = served
    page = browser_visitor.open(f"{base}/health")
    page.screenshot(path=str(tmp_path / "health.png"), full_page=True)

    engine = make_engine(scene.database_url)
    try:
        counts = inbox.counts(engine)
    finally:
        engine.dispose()
    shown = page.locator("#inbox-counts li").evaluate_all(
        "ls => ls.map(l => [l.dataset.status, Number(l.querySelector('strong').textContent)])"
    )
    assert dict(shown) == {"pending": 0, "processing": 0, "failed": 0, **counts}
    sent = page.locator('#tracker-counts li[data-name="sent"] strong').inner_text()
    assert int(sent) == scene.events_accepted
    assert browser_visitor.errors == []


@pytest.mark.parametrize("path", ["/", "/flags/{flag}", "/health"])
def test_pages_fit_a_phone(served: Served, browser: Browser, path: str, tmp_path: Path) -> None:
    scene, base = served
    with visitor(browser, phone=True) as seen:
        page = seen.open(base + path.format(flag=scene.flag))
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert seen.errors == []


PRIVATE = [
    "/",
    "/flags/{flag}",
    "/health",
    "/api/flags",
    "/api/flags/{flag}/history",
    "/api/health",
]


@pytest.mark.parametrize("path", PRIVATE)
def test_every_page_needs_the_token(served: Served, path: str) -> None:
    scene, base = served
    url = base + path.format(flag=scene.flag)
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=("anyone", TOKEN + "x"), timeout=10).status_code == 401
    assert requests.get(url, auth=("anyone", TOKEN), timeout=10).status_code == 200
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(url, headers=bearer, timeout=10).status_code == 200
