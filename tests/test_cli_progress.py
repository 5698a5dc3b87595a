"""Long CLI work shows a progress bar on stderr at a terminal, and nothing anywhere else:
stdout, which programs read, is the same either way."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from flags.database import make_engine
from rollout_bot.cli import main
from tests.conftest import DEFINITIONS
from tests.terminal import run_on_terminal
from tracking.schema import outbox
from webhook import inbox

FILES = 120
FLAG = "my_flag"
BAR = "100%"  # click draws the percentage when it knows the length


def _checkout(root: Path) -> None:
    shutil.copytree(DEFINITIONS, root / "config" / "feature_flags")
    for n in range(FILES):
        (root / f"module_{n}.py").write_text(
            f'def view_{n}(flags):\n    if flags.enabled("{FLAG}"):\n        return "new"\n'
            '    return "old"\n'
        )


def _piped(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cleanup_check_draws_only_on_a_terminal(tmp_path: Path) -> None:
    _checkout(tmp_path)
    args = ["cleanup", "check", "--root", str(tmp_path)]
    code, out, err = _piped(args)
    assert code == 1 and err == ""
    assert f"feature flag `{FLAG}` is evaluated but not defined" in out
    shown = run_on_terminal(args, {})
    assert (shown.code, shown.stdout) == (code, out)
    assert f"checking {FILES} files" in shown.terminal and BAR in shown.terminal


def test_cleanup_rewrite_draws_only_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped, shown_root = tmp_path / "piped", tmp_path / "shown"
    for root in (piped, shown_root):
        root.mkdir()
        _checkout(root)
    monkeypatch.chdir(piped)
    code, out, err = _piped(["cleanup", "rewrite", FLAG])
    assert code == 0 and err == ""
    assert out.count("rewrote ") == FILES
    shown = run_on_terminal(["cleanup", "rewrite", FLAG], {}, cwd=shown_root)
    assert (shown.code, shown.stdout) == (code, out)
    assert "rewriting" in shown.terminal and BAR in shown.terminal
    assert (shown_root / "module_0.py").read_text() == 'def view_0(flags):\n    return "new"\n'


def _failed_deliveries(url: str, count: int) -> list[int]:
    engine = make_engine(url)
    try:
        for n in range(count):
            inbox.store(
                engine,
                delivery_key=f"key-{n}",
                kind="Issue Hook",
                project_id=1,
                issue_iid=n,
                event_uuid=None,
                payload="{}",
            )
            claimed = inbox.claim(engine, "test", lease=60)
            assert claimed is not None
            assert inbox.fail(engine, claimed.id, "test", error="GitLab answered 403")
        return inbox.failed_ids(engine)
    finally:
        engine.dispose()


def test_inbox_retry_failed_requeues_every_failed_delivery(sqlite_url: str) -> None:
    env = {"ROLLOUT_BOT_DATABASE_URL": sqlite_url}
    failed = _failed_deliveries(sqlite_url, 30)
    code, out, err = _piped(["inbox", "retry", "--failed"], env)
    assert (code, out, err) == (0, "30 failed deliveries queued again\n", "")
    code, out, err = _piped(["inbox", "retry", "--failed"], env)
    assert (code, out, err) == (0, "0 failed deliveries queued again\n", "")
    engine = make_engine(sqlite_url)
    try:
        statuses = {d.id: d.status for d in inbox.listing(engine, limit=100)}
    finally:
        engine.dispose()
    assert statuses == {delivery_id: inbox.PENDING for delivery_id in failed}


def test_inbox_retry_needs_an_id_or_failed(sqlite_url: str) -> None:
    env = {"ROLLOUT_BOT_DATABASE_URL": sqlite_url}
    for args in (["inbox", "retry"], ["inbox", "retry", "1", "--failed"]):
        code, out, err = _piped(args, env)
        assert code == 2 and out == ""
        assert "say which deliveries to queue again" in err


def test_inbox_retry_failed_draws_only_on_a_terminal(sqlite_url: str) -> None:
    _failed_deliveries(sqlite_url, 25)
    shown = run_on_terminal(
        ["inbox", "retry", "--failed"], {"ROLLOUT_BOT_DATABASE_URL": sqlite_url}
    )
    assert (shown.code, shown.stdout) == (0, "25 failed deliveries queued again\n")
    assert "retrying failed deliveries" in shown.terminal and BAR in shown.terminal


def _dead_letters(url: str, count: int) -> None:
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(outbox),
                [
                    {
                        "payload": json.dumps({"eid": f"event-{n}"}),
                        "created_at": now,
                        "attempts": 9,
                        "dead_at": now,
                        "last_error": "collector answered 413",
                    }
                    for n in range(count)
                ],
            )
    finally:
        engine.dispose()


def test_tracking_retry_draws_only_on_a_terminal(tmp_path: Path, sqlite_url: str) -> None:
    env = {"ROLLOUT_BOT_DATABASE_URL": sqlite_url}
    # More than one batch, so the bar moves between transactions.
    _dead_letters(sqlite_url, 1200)
    code, out, err = _piped(["tracking", "retry", "--all"], env)
    assert code == 0 and err == ""
    assert out.startswith("1200 dead letters requeued (1, 2, 3, ")
    _dead_letters(sqlite_url, 1200)
    shown = run_on_terminal(["tracking", "retry", "--all"], env)
    assert shown.code == 0 and shown.stdout.startswith("1200 dead letters requeued (1201, ")
    assert "requeueing dead letters" in shown.terminal and BAR in shown.terminal
