"""What CI asks of the local git checkout: deleted definitions and commit trailers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

DEFINITION = re.compile(r"(^|/)config/feature_flags/[^/]+/(?P<name>[a-z0-9_]+)\.yml$")
CHANGELOG_TRAILER = re.compile(r"^Changelog: [a-z_]+\s*$", re.MULTILINE)


class GitError(Exception):
    """git failed; the message carries its stderr."""


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def deleted_definitions(root: Path, base: str, head: str = "HEAD") -> dict[str, str]:
    """Flag name -> path of each definition deleted between base and head."""
    out = _git(root, "diff", "--name-only", "--diff-filter=D", f"{base}...{head}")
    deleted: dict[str, str] = {}
    for line in out.splitlines():
        match = DEFINITION.search(line)
        if match:
            deleted[match["name"]] = str(PurePosixPath(line))
    return deleted


def commits_without_trailer(root: Path, base: str, head: str = "HEAD") -> list[str]:
    """Short SHA and subject of each commit since base whose message has no changelog trailer."""
    out = _git(root, "log", "--format=%h%x00%s%x00%B%x1e", f"{base}..{head}")
    missing = []
    for entry in out.split("\x1e"):
        if not entry.strip():
            continue
        sha, subject, body = entry.strip("\n").split("\x00", 2)
        if not CHANGELOG_TRAILER.search(body):
            missing.append(f"{sha} {subject}")
    return missing
