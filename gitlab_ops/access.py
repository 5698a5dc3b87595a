"""Who may run what: the GitLab access level a command needs, per environment it touches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flags.grammar import FeatureCommand
from gitlab_ops.chatops import AutoDeployStatus, Command, ReleaseCheck
from gitlab_ops.client import ACCESS_LEVELS, ACCESS_NAMES

DEVELOPER = ACCESS_LEVELS["developer"]
MAINTAINER = ACCESS_LEVELS["maintainer"]
REPORTER = ACCESS_LEVELS["reporter"]


def _default_levels() -> dict[str, int]:
    return {"dev": DEVELOPER, "staging": DEVELOPER, "staging-ref": DEVELOPER}


@dataclass(frozen=True)
class AccessPolicy:
    """Levels per environment; an environment not listed needs `default` (Maintainer)."""

    levels: Mapping[str, int] = field(default_factory=_default_levels)
    default: int = MAINTAINER
    acknowledge: int = DEVELOPER  # confirming a step without a command
    read: int = REPORTER  # feature get/list, deployment questions

    def for_environment(self, environment: str) -> int:
        return self.levels.get(environment, self.default)

    def required(self, command: Command | None) -> tuple[int, str]:
        """The level a command needs, and what for (shown when refusing)."""
        if command is None:
            return self.acknowledge, "confirming a step"
        if isinstance(command, AutoDeployStatus | ReleaseCheck):
            return self.read, "deployment checks"
        assert isinstance(command, FeatureCommand)
        if command.verb in ("get", "list"):
            return self.read, f"feature {command.verb}"
        environments = command.environments or ("production",)
        level = max(self.for_environment(env) for env in environments)
        strictest = [env for env in environments if self.for_environment(env) == level]
        override = self.for_environment("production")
        if command.ignore_consistency and override > level:
            # Skipping "staging leads production" is a production decision.
            return override, "overriding the consistency check"
        return level, f"changing {', '.join(strictest)}"


def level_name(level: int) -> str:
    if level in ACCESS_NAMES:
        return ACCESS_NAMES[level]
    return "no access" if level <= 0 else f"level {level}"


def parse_level(raw: str) -> int:
    """`maintainer`, `Developer` or a number such as 40."""
    value = raw.strip().lower()
    if value.isdigit():
        return int(value)
    if value not in ACCESS_LEVELS:
        raise ValueError(f"'{raw}' is not an access level ({', '.join(ACCESS_LEVELS)})")
    return ACCESS_LEVELS[value]
