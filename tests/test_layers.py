"""The layers hold: a lower package never imports a higher one.

The contracts live in pyproject.toml ([tool.importlinter]); this runs them so a
wrong import fails the suite, not a review.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter import cli; sys.exit(cli.lint_imports())"


def lint(root: Path, *pythonpath: Path) -> subprocess.CompletedProcess[str]:
    # In a process of its own: import-linter configures logging, which would
    # silence the loggers of modules the rest of the suite has imported.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_import_contract_is_kept() -> None:
    run = lint(REPO, REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_the_contracts_catch_an_upward_import(tmp_path: Path) -> None:
    """The check can fail: a tree whose flags/ imports rollout_bot breaks the layers."""
    for package in ("flags", "templates", "tracking", "gitlab_ops", "webhook", "rollout_bot"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "flags" / "bad.py").write_text("import rollout_bot.cli\n")
    (tmp_path / "rollout_bot" / "cli.py").write_text("")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    run = lint(tmp_path, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "flags is not allowed to import rollout_bot" in run.stdout
    assert "flags.bad -> rollout_bot.cli" in run.stdout
