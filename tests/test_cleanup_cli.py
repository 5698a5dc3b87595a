"""`rollout-bot cleanup check` and `cleanup rewrite` on local checkouts."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from rollout_bot.cli import main
from tests.conftest import DEFINITIONS


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_definitions_without_code_are_all_unused(tmp_path: Path) -> None:
    shutil.copytree(DEFINITIONS, tmp_path / "config" / "feature_flags")
    code, out = invoke("cleanup", "check", "--root", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "0 used, 11 unused, 0 undefined"
    unused = [line for line in lines[1:] if "is defined but never referenced" in line]
    assert len(unused) == 11 == len(lines) - 1
    assert (
        "config/feature_flags/development/webhook_fast_ack.yml:1: "
        "feature flag `webhook_fast_ack` is defined but never referenced" in lines
    )


def test_used_and_undefined(tmp_path: Path) -> None:
    definitions = tmp_path / "config" / "feature_flags" / "ops"
    definitions.mkdir(parents=True)
    shutil.copy(DEFINITIONS / "ops" / "inbox_retention_purge.yml", definitions)
    (tmp_path / "app.py").write_text(
        'def run(flags):\n    if flags.enabled("inbox_retention_purge"):\n        return 1\n'
        '    return flags.enabled("typo_flag")\n'
    )
    code, out = invoke("cleanup", "check", "--root", str(tmp_path))
    assert code == 1
    assert out.splitlines() == [
        "1 used, 0 unused, 1 undefined",
        "app.py:4: feature flag `typo_flag` is evaluated but not defined",
    ]


def test_rewrite_edits_in_place_and_reports_leftovers(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "def view(flags, name):\n"
        '    if flags.enabled("my_flag"):\n'
        '        return "new"\n'
        '    return "old"\n'
    )
    dynamic = tmp_path / "dynamic.py"
    dynamic.write_text('def check(flags):\n    return flags.enabled("my_" + "flag")\n')
    code, out = invoke("cleanup", "rewrite", "my_flag", str(tmp_path))
    assert code == 0
    assert app.read_text() == 'def view(flags, name):\n    return "new"\n'
    assert f"rewrote {app}" in out
    assert dynamic.read_text() == 'def check(flags):\n    return flags.enabled("my_" + "flag")\n'
    code, out = invoke("cleanup", "rewrite", "my_flag", str(app))
    assert out.strip() == "nothing to rewrite"
