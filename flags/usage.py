"""Which defined flags the code uses: `rollout-bot cleanup check`, pure over file contents.

GitLab fails a pipeline when a defined flag is never referenced; we do the same,
and also catch checks of flags nobody defined. References are

- *evaluations*: flag checks in Python files whose name is a literal or a constant,
  exactly the calls the cleanup codemod rewrites: those made on a flag API, the
  default ones and those the repository declares in its `pyproject.toml`
  (`flags.cleanup.apis`);
- *mentions*: a defined flag's name as a whole word in any text file, Python
  included (YAML, Markdown, JS, Ruby, ...), and in JavaScript style camelCase too,
  since GitLab hands flags to the frontend as `gon.features.myFlagName`. These are
  what the codemod cannot rewrite, and the cleanup merge request lists them.

A call spelled like a check on something that is not a flag API
(`widget.enabled("x")`) is neither: the codemod leaves it alone and does not list
it, so it is no use of flag `x` here either (its line does not count as a mention
of `x`). A flag only such calls name is reported unused: declare the API if it is one.

A flag's own definition file does not count as a reference to it. `walk` reads a
checkout; everything else works on a mapping of path -> text, so paths in `files`
and in the definitions must be spelled alike (relative to the repository root).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from flags.cleanup import declared_apis, find_calls
from flags.definitions import Registry

# Folders that hold tools' copies and caches, never the project's own references.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
    }
)
MAX_FILE_SIZE = 1024 * 1024
_BINARY_PROBE = 8192

UNUSED = "feature flag `{name}` is defined but never referenced"
UNDEFINED = "feature flag `{name}` is evaluated but not defined"

Kind = Literal["evaluation", "mention"]


@dataclass(frozen=True, order=True)
class Reference:
    path: str
    line: int
    name: str
    kind: Kind


@dataclass(frozen=True)
class Usage:
    """Every reference found, and the definitions they were looked for against."""

    references: tuple[Reference, ...]
    definitions: Mapping[str, str] = field(default_factory=dict)  # name -> definition path

    def of(self, name: str) -> list[Reference]:
        return [r for r in self.references if r.name == name]


@dataclass(frozen=True)
class Report:
    used: Mapping[str, tuple[Reference, ...]]
    unused: Mapping[str, str]  # name -> definition path
    undefined: Mapping[str, tuple[Reference, ...]]  # name -> its evaluations

    @property
    def ok(self) -> bool:
        return not self.unused and not self.undefined

    def summary(self) -> str:
        return f"{len(self.used)} used, {len(self.unused)} unused, {len(self.undefined)} undefined"

    def problems(self) -> list[str]:
        """One `PATH:LINE: message` line per problem, in path and line order."""
        found = [(path, 1, UNUSED.format(name=name)) for name, path in self.unused.items()]
        found += [
            (ref.path, ref.line, UNDEFINED.format(name=name))
            for name, refs in self.undefined.items()
            for ref in refs
        ]
        return [f"{path}:{line}: {message}" for path, line, message in sorted(found)]


def _normal(path: str) -> str:
    return PurePosixPath(os.path.normpath(path.replace("\\", "/"))).as_posix()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def scan(
    files: Mapping[str, str],
    definitions: Mapping[str, str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Usage:
    """References in `files` (path -> text) to flags; `definitions` maps name -> definition path.

    To check that a deleted definition left no reference, include its name (and its
    old path) in `definitions`. `progress(done, total)` hears of each file read, so a
    CLI over a large checkout can show that it is moving.
    """
    own = {name: _normal(path) for name, path in definitions.items()}
    references: set[Reference] = set()
    apis, _ = declared_apis(files)  # an unreadable declaration: the cleanup reports it
    calls = find_calls({p: t for p, t in files.items() if _is_python(p)}, apis=apis)
    # Lines already judged: a check is an evaluation, a look-alike no reference.
    evaluated: set[tuple[str, int, str]] = set(calls.lookalikes)
    for evaluation in calls.evaluations:
        evaluated.add((evaluation.path, evaluation.line, evaluation.name))
        references.add(Reference(evaluation.path, evaluation.line, evaluation.name, "evaluation"))
    spellings: dict[str, str] = {}
    for name in definitions:
        spellings[name] = name
        spellings.setdefault(_camel(name), name)
    if spellings:
        alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
        word = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")
        for done, (path, text) in enumerate(files.items(), start=1):
            if progress is not None:
                progress(done, len(files))
            normal = _normal(path)
            for number, line in enumerate(text.splitlines(), start=1):
                for match in word.finditer(line):
                    name = spellings[match.group()]
                    if own[name] == normal or (path, number, name) in evaluated:
                        continue
                    references.add(Reference(path, number, name, "mention"))
    if progress is not None:
        progress(len(files), len(files))
    return Usage(tuple(sorted(references)), dict(definitions))


def check(usage: Usage, definitions: Mapping[str, str] | None = None) -> Report:
    """Used, unused and undefined flags (against the definitions `usage` was scanned with)."""
    defined = usage.definitions if definitions is None else definitions
    by_name: dict[str, list[Reference]] = {}
    for reference in usage.references:
        by_name.setdefault(reference.name, []).append(reference)
    used = {name: tuple(by_name[name]) for name in sorted(defined) if name in by_name}
    unused = {name: defined[name] for name in sorted(defined) if name not in by_name}
    undefined = {
        name: tuple(r for r in refs if r.kind == "evaluation")
        for name, refs in sorted(by_name.items())
        if name not in defined and any(r.kind == "evaluation" for r in refs)
    }
    return Report(used, unused, undefined)


def references_to(usage: Usage, name: str) -> list[tuple[str, int]]:
    """Where `name` is still referenced: what must be empty once its definition is deleted."""
    return sorted({(r.path, r.line) for r in usage.of(name)})


def definition_paths(registry: Registry, root: Path) -> dict[str, str]:
    """Flag name -> definition path, relative to `root` when the file is under it."""
    base = root.resolve()
    paths = {}
    for name, definition in registry.definitions.items():
        path = Path(definition.path).resolve()
        paths[name] = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
    return paths


def walk(root: Path, *, skip: Iterable[str] = SKIPPED_DIRS) -> dict[str, str]:
    """Every text file under `root` (path relative to it -> text), as `scan` takes them.

    Skips tool folders (`SKIPPED_DIRS`), files over `MAX_FILE_SIZE`, and files that
    are binary (a NUL byte near the start) or not UTF-8.
    """
    skipped = frozenset(skip)
    files: dict[str, str] = {}
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        for filename in sorted(filenames):
            path = Path(folder, filename)
            try:
                if not path.is_file() or path.stat().st_size > MAX_FILE_SIZE:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if b"\0" in data[:_BINARY_PROBE]:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            files[path.relative_to(root).as_posix()] = text
    return files
