"""The ChatOps command grammar, parsed once and shared by the CLI, the bot and CI.

    feature set NAME VALUE [--dev --staging --staging-ref --production]
        [--project=P,... --group=G,... --user=U,... --namespace=N,... --feature-group=F]
        [--actors | --random] [--ignore-feature-flag-consistency-check]
    feature get NAME [envs]      feature list [--match=S]      feature delete NAME [envs]

The deployment questions of the ChatOps line (`auto_deploy status`, `release
check`) are GitLab-side: `gitlab_ops.chatops` parses the whole line and hands
`feature` commands here. Parsing is pure: it checks everything that needs no state (the first four
checks of DESIGN.md, and placeholders); `flags.commands` checks the rest.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from flags.errors import Refusal

CHATOPS_PREFIX = re.compile(r"^\s*/chatops\s+run\s+", re.IGNORECASE)
PLACEHOLDER = re.compile(r"<[A-Za-z][A-Za-z0-9_ -]*>")
TARGET_KINDS = {"project": "Project", "group": "Group", "user": "User", "namespace": "Namespace"}
PLACEHOLDER_HINTS = {
    "<rollout-percentage>": "the percentage to roll out to, a number from 0 to 100",
    "<your-username>": "your GitLab username",
    "<merge-request-url>": "the merge request's URL",
    "<milestone>": "the milestone, such as 17.3",
    "<merge-commit-sha>": "the merge commit's SHA",
    "<project-path>": "the project's path, such as gitlab-org/gitlab, or its id",
    "<group-path>": "the group's path, such as gitlab-org, or its id",
}
USAGE = {
    "set": "feature set NAME VALUE [environments] [targets] [--actors|--random]",
    "get": "feature get NAME [environments]",
    "delete": "feature delete NAME [environments]",
    "list": "feature list [--match=TEXT] [environments]",
}

Verb = Literal["set", "get", "list", "delete"]


@dataclass(frozen=True)
class Target:
    kind: str  # project, group, user or namespace
    ref: str  # a numeric id or a path/username, resolved later

    def __str__(self) -> str:
        return f"--{self.kind}={self.ref}"


@dataclass(frozen=True)
class FeatureCommand:
    verb: Verb
    name: str | None = None
    value: bool | float | None = None
    environments: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    feature_groups: tuple[str, ...] = ()
    actors: bool = False
    random: bool = False
    ignore_consistency: bool = False
    match: str | None = None
    text: str = field(default="", compare=False)

    @property
    def is_percentage(self) -> bool:
        return self.value is not None and not isinstance(self.value, bool)


def find_placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def placeholder_refusal(placeholders: Sequence[str]) -> Refusal:
    parts = []
    for placeholder in dict.fromkeys(placeholders):
        hint = PLACEHOLDER_HINTS.get(placeholder, "a real value")
        parts.append(f"replace {placeholder} with {hint}")
    return Refusal("the command still has a placeholder: " + "; ".join(parts))


def tokens(text: str) -> list[str]:
    """The words of a command, without `/chatops run` and the code span's backticks."""
    body = CHATOPS_PREFIX.sub("", text.strip().strip("`").strip())
    try:
        return shlex.split(body)
    except ValueError as exc:
        raise Refusal(f"cannot read the command: {exc}") from exc


def _parse_value(raw: str) -> bool | float:
    lowered = raw.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    try:
        number = float(raw)
    except ValueError:
        number = float("nan")
    if not re.fullmatch(r"\d+(\.\d+)?", raw) or not 0 <= number <= 100:
        raise Refusal(f"value '{raw}' must be true, false or a percentage from 0 to 100")
    return number


def _split_list(option: str, raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(","))
    if not raw or any(not item for item in items):
        raise Refusal(f"--{option} needs a comma-separated list of values, such as --{option}=a,b")
    return items


def parse(text: str, environments: Sequence[str]) -> FeatureCommand:
    """Parse one `feature` command (with or without `/chatops run`); raise Refusal if not."""
    placeholders = find_placeholders(text)
    if placeholders:
        raise placeholder_refusal(placeholders)
    words = tokens(text)
    if not words:
        raise Refusal("empty command")
    if words[0].lower() != "feature":
        raise Refusal(f"unknown command '{words[0]}': use feature")
    return _parse_feature(words[1:], environments, text)


def _parse_feature(words: list[str], environments: Sequence[str], text: str) -> FeatureCommand:
    if not words or words[0] not in USAGE:
        got = f" '{words[0]}'" if words else ""
        raise Refusal(f"unknown feature command{got}: use set, get, list or delete")
    verb: Verb = words[0]  # type: ignore[assignment]
    env_options = {f"--{env}": env for env in environments}
    positional: list[str] = []
    chosen: list[str] = []
    targets: list[Target] = []
    feature_groups: list[str] = []
    flags = {"actors": False, "random": False, "ignore": False}
    match: str | None = None

    for token in words[1:]:
        if not token.startswith("--"):
            positional.append(token.strip("`"))
            continue
        option, has_value, raw = token.partition("=")
        key = option[2:]
        if option in env_options and not has_value:
            if env_options[option] not in chosen:
                chosen.append(env_options[option])
        elif verb == "set" and key in TARGET_KINDS:
            if not has_value:
                raise Refusal(f"{option} needs a value: {option}=ID or {option}=PATH")
            targets += [Target(key, ref) for ref in _split_list(key, raw)]
        elif verb == "set" and key == "feature-group":
            if not has_value:
                raise Refusal("--feature-group needs a value: --feature-group=NAME")
            feature_groups += _split_list(key, raw)
        elif verb == "set" and key in ("actors", "random") and not has_value:
            flags[key] = True
        elif (
            verb in ("set", "delete")
            and key == "ignore-feature-flag-consistency-check"
            and not has_value
        ):
            flags["ignore"] = True
        elif verb == "list" and key == "match":
            if not has_value or not raw:
                raise Refusal("--match needs a value: --match=TEXT")
            match = raw
        else:
            raise Refusal(f"unknown option {option} for feature {verb}; usage: {USAGE[verb]}")

    wanted = {"set": 2, "get": 1, "delete": 1, "list": 0}[verb]
    if verb != "list" and not positional:
        raise Refusal(f"the flag name is missing; usage: {USAGE[verb]}")
    if verb == "set" and len(positional) < 2:
        raise Refusal(f"the value is missing; usage: {USAGE[verb]}")
    if len(positional) > wanted:
        extra = " ".join(positional[wanted:])
        raise Refusal(f"unexpected argument '{extra}'; usage: {USAGE[verb]}")

    name = positional[0] if positional else None
    value: bool | float | None = None
    if verb == "set":
        value = _parse_value(positional[1])
        is_percentage = not isinstance(value, bool)
        if flags["actors"] and flags["random"]:
            raise Refusal("use either --actors or --random, not both")
        if is_percentage and not (flags["actors"] or flags["random"]):
            raise Refusal(
                f"a percentage needs --actors (percentage of actors) or --random "
                f"(percentage of time): feature set {name} {positional[1]} --actors"
            )
        if not is_percentage and (flags["actors"] or flags["random"]):
            raise Refusal("--actors and --random take a percentage value, not true or false")
        if (flags["actors"] or flags["random"]) and (targets or feature_groups):
            raise Refusal(
                "--actors and --random roll out to a share of everyone; "
                "they do not combine with --project, --group, --user, --namespace "
                "or --feature-group"
            )

    return FeatureCommand(
        verb=verb,
        name=name,
        value=value,
        environments=tuple(chosen),
        targets=tuple(targets),
        feature_groups=tuple(feature_groups),
        actors=flags["actors"],
        random=flags["random"],
        ignore_consistency=flags["ignore"],
        match=match,
        text=text,
    )
