"""`rollout-bot serve`: a fresh SQLite database is created and /healthz answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from rollout_bot.cli import main
from webhook.app import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_creates_the_sqlite_database_and_answers_healthz(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLOUT_BOT_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rollout_bot",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--local-trial",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, "serve exited early"
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}
        assert (tmp_path / "rollout-bot.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == 0


def test_serve_refuses_to_start_without_a_webhook_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLOUT_BOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "rollout_bot", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "ROLLOUT_BOT_WEBHOOK_SECRET is not set" in result.stderr
    assert "--local-trial" in result.stderr


def test_healthz_reports_a_broken_database(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.sqlite3'}")
    response = create_app(engine).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
    engine.dispose()


@pytest.mark.postgres
def test_postgres_needs_db_upgrade_first(postgres_url: str) -> None:
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = sa.make_url(postgres_url).database + "_empty"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        runner = CliRunner(env={"ROLLOUT_BOT_DATABASE_URL": url, "ROLLOUT_BOT_DEFINITIONS": ""})
        result = runner.invoke(main, ["feature", "list"])
        assert result.exit_code == 1
        assert "run `rollout-bot db upgrade` first" in result.stderr
        assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
        assert runner.invoke(main, ["feature", "list"]).exit_code == 0
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
