"""Definition files: GitLab's rules, applied to well-formed and broken files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from flags.definitions import (
    NAME_PATTERN,
    TYPES,
    configured_roots,
    load,
    own_definitions_root,
    parse,
)
from tests.conftest import BROKEN_DEFINITIONS, DEFINITIONS

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


# Per type, the files in tests/fixtures/feature_flags: every type a definition may have.
FIXTURE_TYPES = {
    "beta": 2,
    "development": 2,
    "experiment": 1,
    "gitlab_com_derisk": 1,
    "ops": 3,
    "wip": 1,
    "worker": 1,
}


def test_every_fixture_definition_validates() -> None:
    registry = load([DEFINITIONS])
    assert [str(p) for p in registry.problems if p.severity == "error"] == []
    assert Counter(d.type for d in registry.definitions.values()) == FIXTURE_TYPES
    assert set(FIXTURE_TYPES) == set(TYPES) - {"undefined"}
    fast_ack = registry.definitions["webhook_fast_ack"]
    assert fast_ack.type == "development" and fast_ack.default_enabled is True
    assert fast_ack.milestone == "15.3"
    assert registry.definitions["dashboard_flag_search"].milestone == "17.7"  # double quotes
    assert registry.definitions["comment_audit_log"].rollout_issue_url is None  # empty value
    assert registry.definitions["step_markers_v3"].description is None
    sender = registry.definitions["snowplow_sender_batching"]
    assert (sender.log_state_changes, sender.intended_to_rollout_by) == (True, "2026-12-01")


def test_gitlab_shapes_give_warnings_not_errors() -> None:
    registry = load([DEFINITIONS])
    legacy = [str(p) for p in registry.problems if "legacy_count_limit" in p.path]
    assert legacy == [
        f"{DEFINITIONS / 'ops' / 'legacy_count_limit.yml'}: warning: "
        "'milestone' is missing or empty"
    ]
    deprecated = [p.path for p in registry.problems if "type 'development' is deprecated" in str(p)]
    assert sorted(deprecated) == sorted(str(p) for p in (DEFINITIONS / "development").glob("*"))


def test_each_broken_fixture_has_the_errors_its_name_says() -> None:
    registry = load([BROKEN_DEFINITIONS])
    assert registry.definitions == {}
    found = {
        (str(Path(p.path).relative_to(BROKEN_DEFINITIONS)), p.severity, p.message)
        for p in registry.problems
    }
    assert found == {
        ("wip/wip_on_by_default.yml", "error", "type 'wip' cannot be default-enabled"),
        ("ops/beta_in_ops_folder.yml", "error", "a 'beta' flag must be in a folder named 'beta'"),
        ("beta/Bad-Name.yml", "error", f"name 'Bad-Name' does not match {NAME_PATTERN.pattern}"),
        ("beta/no_default_enabled.yml", "error", "'default_enabled' is missing"),
        ("beta/renamed_file.yml", "error", "file must be named 'named_otherwise.yml'"),
        ("experiment/unquoted_milestone.yml", "error", "unknown key 'owner'"),
        (
            "experiment/unquoted_milestone.yml",
            "error",
            "'milestone' must be a string (quote it: '18.0')",
        ),
    }


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
