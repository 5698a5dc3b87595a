"""Planning a flag's removal from a repository: the commit's actions and what is left over.

Pure over a mapping of path -> text, so the same plan serves the local
`cleanup rewrite` and the cleanup merge request the bot opens through the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flags.cleanup import Leftover, rewrite_project
from flags.definitions import Definition, parse
from flags.usage import scan

DEFINITION_PATH = re.compile(r"(^|/)config/feature_flags/(?P<type>[^/]+)/(?P<name>[^/]+)\.yml$")
# Types whose removal releases a feature that self-managed users did not have.
RELEASING_TYPES = frozenset({"beta", "development", "wip", "gitlab_com_derisk"})


@dataclass(frozen=True)
class RemovalPlan:
    flag: str
    definition_path: str | None
    definition: Definition | None
    rewritten: Mapping[str, str]  # path -> new content
    leftovers: list[Leftover] = field(default_factory=list)

    @property
    def changelog(self) -> str:
        """The trailer GitLab's changelog tooling reads (`Changelog: <type>`).

        Removing a flag that was off by default releases its feature ("added");
        removing one already on by default, or a kill switch, only removes code.
        """
        d = self.definition
        if d is not None and not d.default_enabled and d.type in RELEASING_TYPES:
            return "Changelog: added"
        return "Changelog: removed"

    @property
    def empty(self) -> bool:
        return self.definition_path is None and not self.rewritten

    def actions(self) -> list[dict[str, Any]]:
        """GitLab's commit actions (`POST /projects/:id/repository/commits`)."""
        actions: list[dict[str, Any]] = []
        if self.definition_path is not None:
            actions.append({"action": "delete", "file_path": self.definition_path})
        for path, content in sorted(self.rewritten.items()):
            actions.append({"action": "update", "file_path": path, "content": content})
        return actions

    def commit_message(self) -> str:
        return (
            f"Remove the {self.flag} feature flag\n\n"
            f"Deletes its definition and the checks of it, keeping the enabled code path.\n\n"
            f"{self.changelog}\n"
        )


def definition_files(files: Mapping[str, str], flag: str) -> list[str]:
    return sorted(
        path
        for path in files
        if (match := DEFINITION_PATH.search(path)) is not None and match["name"] == flag
    )


def plan(
    files: Mapping[str, str],
    flag: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RemovalPlan:
    """What removing `flag` from these files takes; `progress(done, total)` counts files."""
    report = progress or _unheard
    definitions = definition_files(files, flag)
    definition_path = definitions[0] if definitions else None
    definition = None
    if definition_path is not None:
        definition, _ = parse(definition_path, files[definition_path])
    results = rewrite_project(files, flag, progress=lambda done, _: report(done, len(files)))
    rewritten = {path: r.code for path, r in results.items() if r.changed}
    leftovers = [leftover for r in results.values() for leftover in r.leftovers]
    # Mentions outside Python (YAML, JS, docs) are for a person to look at.
    remaining = {
        path: text
        for path, text in files.items()
        if path not in results and path != definition_path
    }
    settled = len(files) - len(remaining)
    usage = scan(
        remaining,
        {flag: definition_path or ""},
        progress=lambda done, _: report(settled + done, len(files)),
    )
    leftovers += [
        Leftover(ref.path, ref.line, "the flag's name is mentioned here")
        for ref in usage.of(flag)
        if ref.path not in definitions
    ]
    report(len(files), len(files))
    return RemovalPlan(
        flag,
        definition_path,
        definition,
        rewritten,
        sorted(leftovers, key=lambda item: (item.path, item.line)),
    )


def _unheard(done: int, total: int) -> None:
    """Nobody asked how far the plan is."""
