"""`cleanup check`'s scanner: which defined flags the code uses, and which it checks undefined."""

from __future__ import annotations

from pathlib import Path

import pytest

from flags.definitions import load
from flags.usage import (
    MAX_FILE_SIZE,
    UNDEFINED,
    UNUSED,
    Reference,
    check,
    definition_paths,
    references_to,
    scan,
    walk,
)
from tests.conftest import DEFINITIONS

DEFINITION = """\
---
name: {name}
introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1
rollout_issue_url:
milestone: '17.0'
type: development
group: group::analytics instrumentation
default_enabled: false
"""


def write(root: Path, path: str, text: str | bytes) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A small project: definitions, Python checking some, other files naming others."""
    for name in ("checked_in_python", "named_in_yaml", "named_in_js", "never_used", "via_constant"):
        write(
            tmp_path, f"config/feature_flags/development/{name}.yml", DEFINITION.format(name=name)
        )
    write(
        tmp_path,
        "app/flag_names.py",
        '"""Flag names."""\n\nVIA_CONSTANT = "via_constant"\nNOT_DEFINED = "nobody_defined_me"\n',
    )
    write(
        tmp_path,
        "app/views.py",
        "from app.flag_names import NOT_DEFINED, VIA_CONSTANT\n\n\n"
        "def view(flags, user):\n"
        '    if flags.enabled("checked_in_python", user):\n'
        "        return 1\n"
        "    if flags.enabled(VIA_CONSTANT) and flags.disabled(NOT_DEFINED):\n"
        "        return 2\n"
        '    return flags.enabled("typo_in_name")\n',
    )
    write(tmp_path, ".gitlab-ci.yml", "variables:\n  FLAG: named_in_yaml\n")
    write(tmp_path, "frontend/app.js", "if (gon.features.namedInJs) {\n  show();\n}\n")
    # Tools' folders, binary and huge files name `never_used`, and do not count.
    write(tmp_path, "node_modules/lib/index.js", "never_used\n")
    write(tmp_path, ".venv/lib/site.py", 'enabled("never_used")\n')
    write(tmp_path, ".git/COMMIT_EDITMSG", "never_used\n")
    write(tmp_path, "app/__pycache__/views.cpython-311.pyc", b"\0never_used")
    write(tmp_path, "assets/logo.png", b"\x89PNG\r\n\x1a\n\0never_used")
    write(tmp_path, "notes/latin1.txt", "never_used caf\xe9\n".encode("latin-1"))
    write(tmp_path, "notes/huge.txt", "x" * MAX_FILE_SIZE + "\nnever_used\n")
    return tmp_path


def test_walk_reads_text_files_with_relative_paths(repository: Path) -> None:
    files = walk(repository)
    assert "app/views.py" in files
    assert ".gitlab-ci.yml" in files
    assert "config/feature_flags/development/never_used.yml" in files
    skipped = [p for p in files if "never_used" in files[p] and not p.startswith("config/")]
    assert skipped == []
    assert not any(p.startswith(("node_modules/", ".venv/", ".git/")) for p in files)
    assert not any(
        "__pycache__" in p or p.endswith((".png", "latin1.txt", "huge.txt")) for p in files
    )


def test_scan_and_check_a_repository(repository: Path) -> None:
    registry = load([repository / "config" / "feature_flags"])
    definitions = definition_paths(registry, repository)
    assert definitions["never_used"] == "config/feature_flags/development/never_used.yml"

    usage = scan(walk(repository), definitions)
    report = check(usage, definitions)

    assert sorted(report.used) == [
        "checked_in_python",
        "named_in_js",
        "named_in_yaml",
        "via_constant",
    ]
    assert report.used["checked_in_python"] == (
        Reference("app/views.py", 5, "checked_in_python", "evaluation"),
    )
    assert report.used["via_constant"] == (
        Reference("app/flag_names.py", 3, "via_constant", "mention"),
        Reference("app/views.py", 7, "via_constant", "evaluation"),
    )
    assert report.used["named_in_js"] == (
        Reference("frontend/app.js", 1, "named_in_js", "mention"),
    )
    assert report.used["named_in_yaml"] == (
        Reference(".gitlab-ci.yml", 2, "named_in_yaml", "mention"),
    )
    assert report.unused == {"never_used": "config/feature_flags/development/never_used.yml"}
    assert sorted(report.undefined) == ["nobody_defined_me", "typo_in_name"]
    assert not report.ok
    assert report.summary() == "4 used, 1 unused, 2 undefined"
    assert report.problems() == [
        "app/views.py:7: " + UNDEFINED.format(name="nobody_defined_me"),
        "app/views.py:9: " + UNDEFINED.format(name="typo_in_name"),
        "config/feature_flags/development/never_used.yml:1: " + UNUSED.format(name="never_used"),
    ]


def test_a_definition_file_does_not_reference_its_own_flag() -> None:
    files = {"config/a.yml": "name: a\n", "config/b.yml": "name: b\ndescription: replaces a\n"}
    report = check(scan(files, {"a": "config/a.yml", "b": "config/b.yml"}))
    assert list(report.used) == ["a"]  # b's definition mentions a
    assert report.unused == {"b": "config/b.yml"}


def test_references_to_a_deleted_definition() -> None:
    # The MR deleted `gone`'s definition: scan with its name to find what it left behind.
    files = {
        "app/views.py": 'def v(flags):\n    return flags.enabled("gone")\n',
        "docs/flags.md": "The `gone` flag is on.\n",
        "app/other.py": "gone_too = 1  # not the flag: part of a longer name\n",
    }
    usage = scan(files, {"gone": "config/feature_flags/development/gone.yml"})
    assert references_to(usage, "gone") == [("app/views.py", 2), ("docs/flags.md", 1)]
    assert references_to(scan({}, {"gone": "x.yml"}), "gone") == []


def test_python_that_does_not_parse_still_counts_its_mentions() -> None:
    files = {"app/broken.py": 'if enabled("a":\n'}
    usage = scan(files, {"a": "a.yml"})
    assert references_to(usage, "a") == [("app/broken.py", 1)]
    assert check(usage).undefined == {}


def test_definitions_without_code_are_all_unused() -> None:
    """Acceptance: every fixture definition (every type) and no code."""
    registry = load([DEFINITIONS])
    assert not [p for p in registry.problems if p.severity == "error"]
    definitions = {name: d.path for name, d in registry.definitions.items()}
    assert len(definitions) == 11
    files = {
        d.path: Path(d.path).read_text(encoding="utf-8") for d in registry.definitions.values()
    }

    report = check(scan(files, definitions), definitions)

    assert report.summary() == "0 used, 11 unused, 0 undefined"
    assert sorted(report.unused) == sorted(definitions)
    assert report.problems() == sorted(
        f"{path}:1: {UNUSED.format(name=name)}" for name, path in definitions.items()
    )
    assert not report.ok


def test_the_scan_agrees_with_the_codemod_on_what_a_check_is() -> None:
    # A call on something that is no flag API is no use of a flag, not even a mention
    # (the codemod leaves it alone); a call of a declared API is an evaluation.
    files = {
        "pyproject.toml": '[tool.rollout-bot]\nflag-apis = ["shop.features.is_on"]\n',
        "app/views.py": "from shop.features import is_on\n\n\ndef v(widget):\n"
        '    widget.enabled("only_a_widget")\n'
        '    widget.disabled("nobody_defined_me")\n'
        '    return is_on("declared")\n',
        "docs/widget.md": "The `only_a_widget` switch.\n",
    }
    definitions = {"only_a_widget": "config/a.yml", "declared": "config/d.yml"}
    report = check(scan(files, definitions))
    assert report.used == {
        "declared": (Reference("app/views.py", 7, "declared", "evaluation"),),
        "only_a_widget": (Reference("docs/widget.md", 1, "only_a_widget", "mention"),),
    }
    assert report.undefined == {}
    del files["docs/widget.md"]
    assert check(scan(files, definitions)).unused == {"only_a_widget": "config/a.yml"}
