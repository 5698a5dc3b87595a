"""The default-enable edit changes that one line and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from flags.definition_edit import with_default_enabled
from flags.definitions import Definition, parse
from flags.errors import Refusal
from tests.conftest import DEFINITIONS


def definition_of(path: Path) -> tuple[str, Definition]:
    text = path.read_text()
    definition, _ = parse(str(path), text)
    assert definition is not None
    return text, definition


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_only_the_value_changes_and_comments_stay() -> None:
    path = DEFINITIONS / "ops" / "webhook_auto_disable.yml"
    text, definition = definition_of(path)
    edited = with_default_enabled(text, definition)
    assert changed_lines(text, edited) == [
        (
            "default_enabled: false # Keep this value as false: a self-managed instance decides "
            "for itself\n",
            "default_enabled: true # Keep this value as false: a self-managed instance decides "
            "for itself\n",
        )
    ]
    again, _ = parse(str(path), edited)
    assert again is not None and again.default_enabled is True
    assert with_default_enabled(edited, again) == edited


@pytest.mark.parametrize("folder", ["wip", "gitlab_com_derisk", "experiment", "worker"])
def test_types_that_may_not_be_default_enabled_are_refused(folder: str) -> None:
    (path,) = sorted((DEFINITIONS / folder).glob("*.yml"))
    text, definition = definition_of(path)
    with pytest.raises(Refusal, match=f"is a {folder} flag, which cannot be default-enabled"):
        with_default_enabled(text, definition)


@pytest.mark.parametrize(
    "path",
    sorted(
        p for folder in ("beta", "ops", "development") for p in (DEFINITIONS / folder).iterdir()
    ),
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_every_allowed_definition_can_be_edited(path: Path) -> None:
    """Quoting, empty values, trailing spaces and key order stay: one line changes, or none."""
    text, definition = definition_of(path)
    edited = with_default_enabled(text, definition)
    (line,) = [
        line for line in text.splitlines(keepends=True) if line.startswith("default_enabled:")
    ]
    expected = [] if definition.default_enabled else [(line, line.replace("false", "true", 1))]
    assert changed_lines(text, edited) == expected
    result, _ = parse(str(path), edited)
    assert result is not None and result.default_enabled is True


def test_a_file_without_one_default_enabled_line_is_refused() -> None:
    text, definition = definition_of(DEFINITIONS / "beta" / "dashboard_flag_search.yml")
    twice = text + "default_enabled: false\n"
    with pytest.raises(Refusal, match="has no single `default_enabled: true\\|false` line"):
        with_default_enabled(twice, definition)
    with pytest.raises(Refusal, match="has no single"):
        with_default_enabled(
            text.replace("default_enabled: false", "default_enabled: no"), definition
        )
