"""The default-enable edit changes that one line and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from flags.definition_edit import with_default_enabled
from flags.definitions import Definition, parse
from flags.errors import Refusal
from tests.conftest import GITLAB_FLAGS


def definition_of(path: Path) -> tuple[str, Definition]:
    text = path.read_text()
    definition, _ = parse(str(path), text)
    assert definition is not None
    return text, definition


def test_only_the_value_changes_and_comments_stay() -> None:
    path = GITLAB_FLAGS / "ops" / "auto_disabling_web_hooks.yml"
    text, definition = definition_of(path)
    edited = with_default_enabled(text, definition)
    before, after = text.splitlines(keepends=True), edited.splitlines(keepends=True)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [
        (
            "default_enabled: false # Keep this value as false, as feature should be disabled "
            "by default for self-managed\n",
            "default_enabled: true # Keep this value as false, as feature should be disabled "
            "by default for self-managed\n",
        )
    ]
    again, _ = parse(str(path), edited)
    assert again is not None and again.default_enabled is True
    assert with_default_enabled(edited, again) == edited


@pytest.mark.parametrize("folder", ["wip", "gitlab_com_derisk", "experiment", "worker"])
def test_types_that_may_not_be_default_enabled_are_refused(folder: str) -> None:
    path = sorted((GITLAB_FLAGS / folder).glob("*.yml"))[0]
    text, definition = definition_of(path)
    with pytest.raises(Refusal, match=f"is a {folder} flag, which cannot be default-enabled"):
        with_default_enabled(text, definition)


def test_every_allowed_gitlab_definition_can_be_edited() -> None:
    for folder in ("beta", "ops", "development"):
        for path in sorted((GITLAB_FLAGS / folder).glob("*.yml")):
            text, definition = definition_of(path)
            edited = with_default_enabled(text, definition)
            assert len(edited) - len(text) in (0, -1)  # "false" -> "true"
            result, _ = parse(str(path), edited)
            assert result is not None and result.default_enabled is True
