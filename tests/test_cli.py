"""The `rollout-bot` CLI: exit codes, text and JSON cards, validate, check, history."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rollout_bot import database
from rollout_bot.cli import main
from tests.conftest import BROKEN_DEFINITIONS, DEFINITIONS

FLAG = "product_intelligence_database_event_tracking"


@pytest.fixture
def cli(database_url: str) -> CliRunner:
    return CliRunner(
        env={
            "ROLLOUT_BOT_DATABASE_URL": database_url,
            "ROLLOUT_BOT_DEFINITIONS": "",
            "ROLLOUT_BOT_USER": "release-manager",
        }
    )


def invoke(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def test_set_get_history_roundtrip(cli: CliRunner) -> None:
    result = invoke(cli, "feature", "set", FLAG, "true", "--dev", "--staging", "--staging-ref")
    assert result.exit_code == 0, result.output
    assert "  staging: off (default) -> on" in result.output
    assert "    boolean: false -> true" in result.output

    result = invoke(cli, "feature", "set", f"`{FLAG}`", "25", "--actors", "--json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    production = card["environments"]["production"]
    assert production["before"]["state"] == "off" and production["after"]["state"] == "conditional"
    assert production["after"]["gates"]["percentage_of_actors"] == 25

    result = invoke(cli, "feature", "get", FLAG, "--json")
    data = json.loads(result.output)
    assert set(data) == {"name", "definition", "environments"}
    assert data["name"] == FLAG and data["definition"]["default_enabled"] is False
    assert list(data["environments"]) == ["dev", "staging", "staging-ref", "production"]
    assert data["environments"]["production"]["state"] == "conditional"
    assert set(data["environments"]["production"]["gates"]) == {
        "boolean",
        "actors",
        "percentage_of_actors",
        "percentage_of_time",
        "groups",
    }

    result = invoke(cli, "feature", "history", FLAG, "--json")
    rows = json.loads(result.output)
    assert [(r["environment"], r["gate"], r["after"]) for r in rows] == [
        ("production", "percentage_of_actors", 25),
        ("staging-ref", "boolean", True),
        ("staging", "boolean", True),
        ("dev", "boolean", True),
    ]
    assert {(r["who"], r["source"]) for r in rows} == {("release-manager", "cli")}
    # From a terminal: no GitLab user and no delivery, the command as typed.
    assert {(r["user_id"], r["delivery"]) for r in rows} == {(None, None)}
    assert rows[0]["command"] == f"feature set '`{FLAG}`' 25 --actors"  # as typed
    assert rows[-1]["command"] == f"feature set {FLAG} true --dev --staging --staging-ref"
    text = invoke(cli, "feature", "history", FLAG).output
    assert "production  set percentage_of_actors: 0 -> 25%  by release-manager (cli)" in text
    assert f"ran: feature set {FLAG} true --dev --staging --staging-ref" in text


def test_refusals_exit_1_with_one_line_and_change_nothing(cli: CliRunner) -> None:
    result = invoke(cli, "feature", "set", FLAG, "true")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: consistency check:")
    assert result.stderr.count("\n") == 1
    result = invoke(cli, "feature", "set", FLAG, "<rollout-percentage>", "--actors")
    assert result.exit_code == 1 and "placeholder" in result.stderr
    result = invoke(cli, "feature", "set", "nope_flag", "true", "--dev")
    assert result.exit_code == 1 and "'nope_flag' is not defined" in result.stderr
    assert json.loads(invoke(cli, "feature", "history", FLAG, "--json").output) == []


def test_usage_errors_exit_2(cli: CliRunner) -> None:
    assert invoke(cli, "feature", "bogus").exit_code == 2
    assert invoke(cli, "feature", "check").exit_code == 2


def test_list(cli: CliRunner) -> None:
    result = invoke(cli, "feature", "list", "--match=database_event", "--json")
    (flag,) = json.loads(result.output)["flags"]
    assert flag["name"] == FLAG
    assert invoke(cli, "feature", "list", "--match=zzz").output.strip() == "no flags match"


def test_check_prints_one_line_per_actor(cli: CliRunner) -> None:
    invoke(cli, "feature", "set", FLAG, "true", "--staging")
    invoke(cli, "feature", "set", FLAG, "50", "--actors")
    result = invoke(
        cli,
        "feature",
        "check",
        FLAG,
        "--actor",
        "Group:1",
        "--actor",
        "Group:9970",
        "--actor",
        "Group:3",
    )
    expected = [
        "true" if zlib.crc32(f"{FLAG}{g}".encode()) % 100_000 < 50_000 else "false"
        for g in ("Group:1", "Group:9970", "Group:3")
    ]
    assert result.output.split() == expected
    assert expected[:2] == ["false", "false"]  # buckets 72543 and 96583
    assert invoke(cli, "feature", "check", FLAG).output == "false\n"
    assert invoke(cli, "feature", "check", FLAG, "--staging").output == "true\n"
    assert invoke(cli, "feature", "check", "nope_flag").exit_code == 1


def test_definitions_validate_every_type(cli: CliRunner) -> None:
    result = invoke(cli, "definitions", "validate", str(DEFINITIONS))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(": warning: " in line for line in lines)
    assert "11 definitions valid, 0 errors, 3 warnings" in result.stderr


def test_definitions_validate_names_every_broken_file(cli: CliRunner) -> None:
    result = invoke(cli, "definitions", "validate", str(BROKEN_DEFINITIONS))
    assert result.exit_code == 1
    files = {line.split(": error: ")[0] for line in result.stdout.splitlines()}
    assert files == {str(path) for path in BROKEN_DEFINITIONS.glob("*/*.yml")}
    assert "0 definitions valid, 7 errors, 0 warnings" in result.stderr


def test_definitions_validate_reports_errors(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "wip" / "bad_flag.yml"
    bad.parent.mkdir()
    bad.write_text("name: bad_flag\ntype: wip\ndefault_enabled: true\n")
    result = invoke(cli, "definitions", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"{bad}: error: type 'wip' cannot be default-enabled" in result.stdout.splitlines()


def test_definitions_validate_defaults_to_the_projects_own(cli: CliRunner) -> None:
    result = invoke(cli, "definitions", "validate")
    assert result.exit_code == 0
    assert "1 definitions valid, 0 errors, 1 warnings" in result.stderr


def test_db_upgrade_is_idempotent(cli: CliRunner) -> None:
    result = invoke(cli, "db", "upgrade")
    head = database.head_revision()
    assert head is not None and re.fullmatch(r"\d{4}_[a-z_]+", head)
    assert result.exit_code == 0 and f"database at revision {head}" in result.output


def test_settings_never_show_their_secrets() -> None:
    from rollout_bot.config import Settings

    settings = Settings.from_env(
        {
            "ROLLOUT_BOT_GITLAB_TOKEN": "glpat-secret-1",
            "ROLLOUT_BOT_WEBHOOK_SECRET": "hook-secret-2",
            "ROLLOUT_BOT_DASHBOARD_TOKEN": "dash-secret-3",
        }
    )
    shown = repr(settings)
    assert settings.gitlab_token == "glpat-secret-1"
    for secret in ("glpat-secret-1", "hook-secret-2", "dash-secret-3"):
        assert secret not in shown
