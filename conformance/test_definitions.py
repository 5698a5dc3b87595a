"""GitLab's 38 real definition files (../shared/data/gitlab/feature_flags) against our rules.

The suite's own definitions (tests/fixtures/feature_flags) were written after these:
what the suite asserts of them, these assert of the real files.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from conformance.conftest import GITLAB_FLAGS
from flags.definition_edit import with_default_enabled
from flags.definitions import TYPES, Definition, load, parse
from flags.errors import Refusal
from flags.usage import UNUSED, check, scan
from rollout_bot.cli import main

FLAG = "product_intelligence_database_event_tracking"
# As listed in ../shared/data/gitlab/feature_flags/README.md.
REAL_TYPES = {
    "development": 8,
    "ops": 7,
    "beta": 6,
    "gitlab_com_derisk": 6,
    "wip": 4,
    "worker": 4,
    "experiment": 3,
}
REAL_FILES = sorted(GITLAB_FLAGS.glob("*/*.yml"))


def definition_of(path: Path) -> tuple[str, Definition]:
    text = path.read_text()
    definition, problems = parse(str(path), text)
    assert definition is not None, problems
    return text, definition


def test_every_real_definition_validates() -> None:
    registry = load([GITLAB_FLAGS])
    assert [str(p) for p in registry.problems if p.severity == "error"] == []
    assert len(registry.definitions) == len(REAL_FILES) == 38
    assert Counter(d.type for d in registry.definitions.values()) == REAL_TYPES
    assert set(REAL_TYPES) == set(TYPES) - {"undefined"}
    ours = registry.definitions[FLAG]
    assert ours.type == "development" and ours.default_enabled is True
    assert ours.milestone == "15.3"


def test_real_shapes_give_warnings_not_errors() -> None:
    registry = load([GITLAB_FLAGS])
    kaminari = [str(p) for p in registry.problems if "api_kaminari" in p.path]
    assert any("'milestone' is missing or empty" in m for m in kaminari)
    assert all(": warning: " in m for m in kaminari)
    assert any("type 'development' is deprecated" in str(p) for p in registry.problems)


def test_cli_validates_the_real_files() -> None:
    result = CliRunner().invoke(
        main, ["definitions", "validate", str(GITLAB_FLAGS)], catch_exceptions=False
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines and all(": warning: " in line for line in lines)
    assert "38 definitions valid, 0 errors" in result.stderr


def test_cleanup_check_finds_every_real_definition_unused(tmp_path: Path) -> None:
    shutil.copytree(GITLAB_FLAGS, tmp_path / "config" / "feature_flags")
    result = CliRunner().invoke(
        main, ["cleanup", "check", "--root", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "0 used, 38 unused, 0 undefined"
    assert len([line for line in lines[1:] if "is defined but never referenced" in line]) == 38
    assert (
        f"config/feature_flags/development/{FLAG}.yml:1: "
        f"feature flag `{FLAG}` is defined but never referenced" in lines
    )


def test_usage_finds_no_reference_without_code() -> None:
    registry = load([GITLAB_FLAGS])
    definitions = {name: d.path for name, d in registry.definitions.items()}
    files = {path: Path(path).read_text(encoding="utf-8") for path in definitions.values()}
    report = check(scan(files, definitions), definitions)
    assert report.summary() == "0 used, 38 unused, 0 undefined"
    assert report.problems() == sorted(
        f"{path}:1: {UNUSED.format(name=name)}" for name, path in definitions.items()
    )
    assert not report.ok


def test_the_edit_keeps_a_comment_continued_on_the_next_line() -> None:
    path = GITLAB_FLAGS / "ops" / "auto_disabling_web_hooks.yml"
    text, definition = definition_of(path)
    edited = with_default_enabled(text, definition)
    before, after = text.splitlines(keepends=True), edited.splitlines(keepends=True)
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        (
            "default_enabled: false # Keep this value as false, as feature should be disabled "
            "by default for self-managed\n",
            "default_enabled: true # Keep this value as false, as feature should be disabled "
            "by default for self-managed\n",
        )
    ]
    again, _ = parse(str(path), edited)
    assert again is not None and with_default_enabled(edited, again) == edited


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_edit_round_trips_on_every_real_file(path: Path) -> None:
    text, definition = definition_of(path)
    if not TYPES[definition.type]:
        with pytest.raises(Refusal, match=f"is a {definition.type} flag, which cannot be"):
            with_default_enabled(text, definition)
        return
    edited = with_default_enabled(text, definition)
    before, after = text.splitlines(keepends=True), edited.splitlines(keepends=True)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    if definition.default_enabled:
        assert changed == []
    else:
        ((old, new),) = changed
        assert (old.startswith("default_enabled: false"), new) == (
            True,
            old.replace("false", "true", 1),
        )
    result, _ = parse(str(path), edited)
    assert result is not None and result.default_enabled is True
    assert with_default_enabled(edited, result) == edited
