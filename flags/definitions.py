"""Feature flag definitions: GitLab's `config/feature_flags/<type>/<name>.yml`.

The rules mirror GitLab's `Feature::Definition` and `Feature::Shared::TYPES`
(https://docs.gitlab.com/development/feature_flags/#feature-flag-definition-and-validation).
Validation is a pure function of a path and its text; loading walks folders.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

NAME_PATTERN = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")

# type -> may it be default-enabled (GitLab's `can_be_default_enabled`)
TYPES: Mapping[str, bool] = {
    "gitlab_com_derisk": False,
    "wip": False,
    "beta": True,
    "ops": True,
    "experiment": False,
    "worker": False,
    "undefined": False,
    "development": True,
}
DEPRECATED_TYPES = frozenset({"development"})

KNOWN_KEYS = frozenset(
    {
        "name",
        "description",
        "feature_issue_url",
        "introduced_by_url",
        "rollout_issue_url",
        "milestone",
        "log_state_changes",
        "type",
        "group",
        "default_enabled",
        "intended_to_rollout_by",
    }
)
STRING_KEYS = (
    "description",
    "feature_issue_url",
    "introduced_by_url",
    "rollout_issue_url",
    "group",
)
RECOMMENDED_KEYS = ("group", "introduced_by_url", "milestone")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    path: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Definition:
    name: str
    type: str
    default_enabled: bool
    path: str
    group: str | None = None
    milestone: str | None = None
    description: str | None = None
    feature_issue_url: str | None = None
    introduced_by_url: str | None = None
    rollout_issue_url: str | None = None
    log_state_changes: bool | None = None
    intended_to_rollout_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default_enabled": self.default_enabled,
            "group": self.group,
            "milestone": self.milestone,
            "description": self.description,
            "feature_issue_url": self.feature_issue_url,
            "introduced_by_url": self.introduced_by_url,
            "rollout_issue_url": self.rollout_issue_url,
            "log_state_changes": self.log_state_changes,
            "intended_to_rollout_by": self.intended_to_rollout_by,
            "path": self.path,
        }


@dataclass
class Registry:
    """The definitions in force, and what was wrong with the files that were skipped."""

    definitions: dict[str, Definition] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, name: str) -> Definition | None:
        return self.definitions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.definitions

    def names(self) -> list[str]:
        return sorted(self.definitions)

    def errors_for(self, name: str) -> list[Problem]:
        """Errors of a file named after `name`, to explain why it is not defined."""
        return [p for p in self.problems if p.severity == "error" and Path(p.path).stem == name]


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as text: `intended_to_rollout_by` is a string."""


_SafeLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse(path: str, text: str) -> tuple[Definition | None, list[Problem]]:
    """Validate one definition file; the definition is None when any error was found."""
    problems: list[Problem] = []

    def error(message: str) -> None:
        problems.append(Problem(path, "error", message))

    def warning(message: str) -> None:
        problems.append(Problem(path, "warning", message))

    try:
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        error(f"YAML does not parse: {where}{exc.problem or exc.context}")
        return None, problems
    except yaml.YAMLError as exc:
        error(f"YAML does not parse: {exc}")
        return None, problems

    if not isinstance(data, dict):
        error("the definition must be a YAML mapping")
        return None, problems

    for key in sorted(set(map(str, data)) - KNOWN_KEYS):
        error(f"unknown key '{key}'")

    name = data.get("name")
    file_path = Path(path)
    if not isinstance(name, str) or not name:
        error("'name' is missing")
    else:
        if not NAME_PATTERN.match(name):
            error(f"name '{name}' does not match {NAME_PATTERN.pattern}")
        if file_path.name != f"{name}.yml":
            error(f"file must be named '{name}.yml'")

    flag_type = data.get("type")
    if not isinstance(flag_type, str) or not flag_type:
        error("'type' is missing")
    elif flag_type not in TYPES:
        error(f"type '{flag_type}' is not one of {', '.join(TYPES)}")
    else:
        if file_path.parent.name != flag_type:
            error(f"a '{flag_type}' flag must be in a folder named '{flag_type}'")
        if flag_type in DEPRECATED_TYPES:
            warning(f"type '{flag_type}' is deprecated")

    if "default_enabled" not in data:
        error("'default_enabled' is missing")
    default_enabled = data.get("default_enabled")
    if "default_enabled" in data and not isinstance(default_enabled, bool):
        error("'default_enabled' must be true or false")
    elif default_enabled is True and isinstance(flag_type, str) and not TYPES.get(flag_type, True):
        error(f"type '{flag_type}' cannot be default-enabled")

    milestone = data.get("milestone")
    if milestone is not None and not isinstance(milestone, str):
        error(f"'milestone' must be a string (quote it: '{milestone}')")

    for key in STRING_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            error(f"'{key}' must be a string")
    log_state_changes = data.get("log_state_changes")
    if log_state_changes is not None and not isinstance(log_state_changes, bool):
        error("'log_state_changes' must be true or false")
    rollout_by = data.get("intended_to_rollout_by")
    if rollout_by is not None and not isinstance(rollout_by, str | dt.date):
        error("'intended_to_rollout_by' must be a date")

    for key in RECOMMENDED_KEYS:
        if data.get(key) in (None, ""):
            warning(f"'{key}' is missing or empty")

    if any(p.severity == "error" for p in problems):
        return None, problems
    assert isinstance(name, str) and isinstance(flag_type, str)
    return (
        Definition(
            name=name,
            type=flag_type,
            default_enabled=bool(default_enabled),
            path=path,
            group=data.get("group") or None,
            milestone=milestone or None,
            description=data.get("description"),
            feature_issue_url=data.get("feature_issue_url"),
            introduced_by_url=data.get("introduced_by_url"),
            rollout_issue_url=data.get("rollout_issue_url"),
            log_state_changes=log_state_changes,
            intended_to_rollout_by=str(rollout_by) if rollout_by is not None else None,
        ),
        problems,
    )


def definition_files(root: Path) -> Iterator[Path]:
    """Every YAML file a definitions folder holds: `<type>/<name>.yml`, and strays."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".yaml"):
            yield path


def _stray_problem(root: Path, path: Path) -> Problem | None:
    if path.suffix != ".yml":
        return Problem(str(path), "error", "definition files must end in .yml")
    if root.is_dir() and len(path.relative_to(root).parts) != 2:
        return Problem(str(path), "error", "definition files must be at <type>/<name>.yml")
    return None


def load(roots: Iterable[Path]) -> Registry:
    """Load and validate every definition under `roots`; files with errors are left out."""
    registry = Registry()
    seen: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            registry.problems.append(Problem(str(root), "error", "no such file or folder"))
            continue
        for path in definition_files(root):
            stray = _stray_problem(root, path)
            if stray is not None:
                registry.problems.append(stray)
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                registry.problems.append(Problem(str(path), "error", f"cannot read: {exc}"))
                continue
            definition, problems = parse(str(path), text)
            registry.problems.extend(problems)
            if definition is None:
                continue
            if definition.name in seen:
                registry.problems.append(
                    Problem(
                        str(path),
                        "error",
                        f"duplicate flag name '{definition.name}', also defined in "
                        f"{seen[definition.name]}",
                    )
                )
                continue
            seen[definition.name] = str(path)
            registry.definitions[definition.name] = definition
    return registry


def own_definitions_root() -> Path:
    """The project's own definitions, `config/feature_flags` beside the packages."""
    return Path(__file__).resolve().parent.parent / "config" / "feature_flags"


def configured_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The project's own folder plus those named in ROLLOUT_BOT_DEFINITIONS."""
    env = os.environ if environ is None else environ
    extra: Sequence[str] = [
        p for p in env.get("ROLLOUT_BOT_DEFINITIONS", "").split(os.pathsep) if p
    ]
    roots = [own_definitions_root()]
    for item in extra:
        path = Path(item).resolve()
        if path not in roots:
            roots.append(path)
    return roots
