"""Debian's Chromium driven by Playwright, and a `rollout-bot serve` to point it at.

Shared by the browser tests and by the README's screenshot
(`python -m tests.dashboard_browser docs/flag-page.png`), so the picture in the
README is made the way the tests see the page. Playwright launches the system's
browser through `executable_path` (https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch):
nothing is downloaded.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from rollout_bot import database
from tests.dashboard_scene import DEFINITIONS_ENV, FLAG, Scene, make_scene
from tests.test_serve_processes import clean_env, serving

CHROMIUM = Path(os.environ.get("ROLLOUT_BOT_CHROMIUM", "/usr/bin/chromium"))
MSG_NO_CHROMIUM = (
    "no Chromium at {path}: install Debian's chromium (apt-get install chromium; "
    "./scripts/test does it as root) or set ROLLOUT_BOT_CHROMIUM"
)
TOKEN = "dashboard-br0wser"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError(MSG_NO_CHROMIUM.format(path=CHROMIUM))
    with sync_playwright() as playwright:
        # --no-sandbox: CI and the developers' machines run as root, where Chromium's
        # sandbox refuses to start; the pages loaded are our own, on loopback.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visitor:
    """One logged-in browser context; collects console errors and uncaught exceptions."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> Page:
        self.errors.clear()
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        return self.page


@contextmanager
def visitor(browser: Browser, *, token: str = TOKEN, phone: bool = False) -> Iterator[Visitor]:
    # A browser logs in with basic auth: any user name, the token as password.
    context = browser.new_context(
        http_credentials={"username": "someone", "password": token},
        viewport=PHONE if phone else DESKTOP,
    )
    page = context.new_page()
    found = Visitor(context, page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: found.errors.append(str(error)))
    try:
        yield found
    finally:
        context.close()


def serve_env(scene: Scene, token: str = TOKEN) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=scene.database_url,
        DASHBOARD_TOKEN=token,
        WEBHOOK_SECRET="not-used-here",
        **{key.removeprefix("ROLLOUT_BOT_"): value for key, value in DEFINITIONS_ENV.items()},
    )


@contextmanager
def served_scene(folder: Path) -> Iterator[tuple[Scene, str]]:
    """A scene in a SQLite file in `folder`, and the base URL of a `serve` showing it."""
    url = f"sqlite:///{folder / 'rollout-bot.sqlite3'}"
    database.upgrade(url)
    scene = make_scene(url)
    with serving(folder, serve_env(scene), "--no-worker", "--workers", "1") as (base, _):
        yield scene, base


def flag_page_screenshot(out: Path) -> None:
    """The README's picture: the flag page of a fresh scene, at desktop width."""
    with tempfile.TemporaryDirectory() as folder:
        with served_scene(Path(folder)) as (_, base), chromium() as browser:
            with visitor(browser) as seen:
                page = seen.open(f"{base}/flags/{FLAG}")
                assert not seen.errors, seen.errors
                page.screenshot(path=str(out), full_page=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.dashboard_browser OUT.png")
    flag_page_screenshot(Path(sys.argv[1]))
