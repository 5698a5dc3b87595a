"""Definition files: GitLab's rules, applied to real and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from flags.definitions import configured_roots, load, own_definitions_root, parse
from tests.conftest import GITLAB_FLAGS

GOOD = """---
name: my_flag
introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1
rollout_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/2
milestone: '17.3'
type: beta
group: group::analytics instrumentation
default_enabled: false
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def messages(path: str, text: str) -> list[str]:
    return [f"{p.severity}: {p.message}" for p in parse(path, text)[1]]


def test_every_gitlab_definition_validates() -> None:
    registry = load([GITLAB_FLAGS])
    errors = [str(p) for p in registry.problems if p.severity == "error"]
    assert errors == []
    assert len(registry.definitions) == 38
    pidet = registry.definitions["product_intelligence_database_event_tracking"]
    assert pidet.type == "development" and pidet.default_enabled is True
    assert pidet.milestone == "15.3"


def test_gitlab_shapes_give_warnings_not_errors() -> None:
    registry = load([GITLAB_FLAGS])
    kaminari = [str(p) for p in registry.problems if "api_kaminari" in p.path]
    assert any("'milestone' is missing or empty" in m for m in kaminari)
    assert all(": warning: " in m for m in kaminari)
    assert any("type 'development' is deprecated" in str(p) for p in registry.problems)


def test_the_project_ships_its_own_flag_off_by_default() -> None:
    registry = load([own_definitions_root()])
    # Kept as GitLab defined it: a development flag, which may be default-enabled later.
    assert [p.message for p in registry.problems] == ["type 'development' is deprecated"]
    definition = registry.definitions["product_intelligence_database_event_tracking"]
    assert definition.default_enabled is False


def test_a_good_file_has_no_problems() -> None:
    definition, problems = parse("beta/my_flag.yml", GOOD)
    assert problems == []
    assert definition is not None and definition.name == "my_flag"


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("beta/My-Flag.yml", GOOD.replace("my_flag", "My-Flag"), "does not match"),
        ("beta/my__flag.yml", GOOD.replace("my_flag", "my__flag"), "does not match"),
        ("beta/other.yml", GOOD, "file must be named 'my_flag.yml'"),
        ("ops/my_flag.yml", GOOD, "a 'beta' flag must be in a folder named 'beta'"),
        ("bogus/my_flag.yml", GOOD.replace("type: beta", "type: bogus"), "type 'bogus' is not"),
        ("beta/my_flag.yml", GOOD.replace("default_enabled: false\n", ""), "'default_enabled' is"),
        (
            "beta/my_flag.yml",
            GOOD.replace("default_enabled: false", "default_enabled: 1"),
            "'default_enabled' must be true or false",
        ),
        (
            "wip/my_flag.yml",
            GOOD.replace("type: beta", "type: wip").replace(
                "default_enabled: false", "default_enabled: true"
            ),
            "type 'wip' cannot be default-enabled",
        ),
        ("beta/my_flag.yml", GOOD.replace("'17.3'", "17.3"), "'milestone' must be a string"),
        ("beta/my_flag.yml", GOOD + "owner: someone\n", "unknown key 'owner'"),
        ("beta/my_flag.yml", GOOD.replace("name: my_flag\n", ""), "'name' is missing"),
        ("beta/my_flag.yml", "- just\n- a list\n", "must be a YAML mapping"),
        (
            "beta/my_flag.yml",
            GOOD + "evil: !!python/object/apply:os.system ['true']\n",
            "YAML does not parse: line 9",
        ),
    ],
)
def test_errors(path: str, text: str, expected: str) -> None:
    definition, problems = parse(path, text)
    assert definition is None
    assert any(p.severity == "error" and expected in p.message for p in problems), problems


def test_a_file_that_does_not_parse_names_its_line() -> None:
    text = GOOD.replace("group: group::analytics instrumentation", "group: [unclosed")
    assert messages("beta/my_flag.yml", text)[0].startswith("error: YAML does not parse: line ")


@pytest.mark.parametrize("key", ["group", "introduced_by_url", "milestone"])
def test_missing_recommended_keys_are_warnings(key: str) -> None:
    lines = [line for line in GOOD.splitlines() if not line.startswith(f"{key}:")]
    definition, problems = parse("beta/my_flag.yml", "\n".join(lines) + "\n")
    assert definition is not None
    assert [p.severity for p in problems] == ["warning"]
    assert f"'{key}' is missing or empty" in problems[0].message


def test_default_enabled_is_allowed_on_ops_beta_development() -> None:
    for flag_type in ("ops", "beta", "development"):
        text = GOOD.replace("type: beta", f"type: {flag_type}").replace(
            "default_enabled: false", "default_enabled: true"
        )
        definition, problems = parse(f"{flag_type}/my_flag.yml", text)
        assert definition is not None and definition.default_enabled is True


def test_duplicates_across_folders_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "a", "beta/my_flag.yml", GOOD)
    write(tmp_path / "b", "beta/my_flag.yml", GOOD)
    registry = load([tmp_path / "a", tmp_path / "b"])
    assert list(registry.definitions) == ["my_flag"]
    duplicate = [p for p in registry.problems if "duplicate" in p.message]
    assert len(duplicate) == 1 and str(tmp_path / "a") in duplicate[0].message


def test_stray_files_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "my_flag.yml", GOOD)
    write(tmp_path, "beta/other_flag.yaml", GOOD.replace("my_flag", "other_flag"))
    registry = load([tmp_path])
    assert registry.definitions == {}
    assert {p.message for p in registry.problems} == {
        "definition files must be at <type>/<name>.yml",
        "definition files must end in .yml",
    }


def test_broken_file_explains_why_a_name_is_undefined(tmp_path: Path) -> None:
    write(tmp_path, "beta/my_flag.yml", GOOD + "owner: x\n")
    registry = load([tmp_path])
    assert "my_flag" not in registry
    assert registry.errors_for("my_flag")[0].message == "unknown key 'owner'"


def test_configured_roots_add_the_environment_folders(tmp_path: Path) -> None:
    roots = configured_roots({"ROLLOUT_BOT_DEFINITIONS": f"{tmp_path}:{tmp_path / 'x'}"})
    assert roots == [own_definitions_root(), tmp_path.resolve(), (tmp_path / "x").resolve()]
    assert configured_roots({}) == [own_definitions_root()]
