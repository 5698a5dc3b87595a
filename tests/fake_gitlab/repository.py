"""An in-memory Git repository: blobs, trees, commits, branches, tags, diffs, merges.

Object ids are Git's own (SHA-1 of the `blob`, `tree`, `commit` and `tag` objects
git would write), so a commit id follows from its files, parents, author,
committer and message. Every commit keeps a full snapshot of its files
(path -> `Blob`). GitLab's rules (messages, permissions, `HEAD` as the default
branch) live in `repo_services`; nothing here knows about HTTP or the fake's state.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

FILE_MODE = "100644"
EXECUTABLE_MODE = "100755"
TREE_MODE = "040000"
NO_MODE = "0"  # GitLab's a_mode of an added file, b_mode of a deleted one
SHORT_ID_LENGTH = 8
MIN_ABBREV = 4  # git's shortest abbreviated object name

_HEX = re.compile(r"^[0-9a-f]+$")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$")


def git_hash(kind: str, body: bytes) -> str:
    header = f"{kind} {len(body)}\0".encode()
    return hashlib.sha1(header + body, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    executable: bool = False

    @cached_property
    def id(self) -> str:
        return git_hash("blob", self.data)

    @property
    def mode(self) -> str:
        return EXECUTABLE_MODE if self.executable else FILE_MODE


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: datetime

    def line(self) -> str:
        return f"{self.name} <{self.email}> {int(self.when.timestamp())} +0000"


@dataclass(frozen=True)
class Commit:
    id: str
    tree_id: str
    parent_ids: tuple[str, ...]
    message: str
    author: Signature
    committer: Signature
    files: Mapping[str, Blob] = field(repr=False, compare=False)
    sequence: int = 0  # creation order in its repository: breaks ties between equal dates

    @property
    def short_id(self) -> str:
        return self.id[:SHORT_ID_LENGTH]

    @property
    def title(self) -> str:
        """Commit#title: the first line, cut at 100 characters."""
        first = self.message.strip().split("\n", 1)[0].rstrip("\r")
        return first if len(first) <= 100 else first[:80].rstrip() + "…"

    def trailers(self) -> dict[str, list[str]]:
        """Git trailers: `Key: value` lines making up the last paragraph (not the title)."""
        paragraphs = [p for p in re.split(r"\n\s*\n", self.message.strip()) if p.strip()]
        if len(paragraphs) < 2:
            return {}
        found: dict[str, list[str]] = {}
        for line in paragraphs[-1].splitlines():
            match = _TRAILER.match(line.strip())
            if match is None:
                return {}
            found.setdefault(match[1], []).append(match[2])
        return found


@dataclass(frozen=True)
class Tag:
    name: str
    commit_id: str
    message: str | None = None  # None: a lightweight tag
    tagger: Signature | None = None

    @cached_property
    def target(self) -> str:
        """What the ref points to: the commit, or the tag object of an annotated tag."""
        if self.message is None or self.tagger is None:
            return self.commit_id
        body = (
            f"object {self.commit_id}\ntype commit\ntag {self.name}\n"
            f"tagger {self.tagger.line()}\n\n{self.message}\n"
        )
        return git_hash("tag", body.encode())


@dataclass(frozen=True)
class TreeEntry:
    id: str
    name: str
    type: str  # "tree" or "blob"
    path: str
    mode: str


@dataclass(frozen=True)
class FileDiff:
    old_path: str
    new_path: str
    a_mode: str
    b_mode: str
    diff: str
    new_file: bool = False
    renamed_file: bool = False
    deleted_file: bool = False
    additions: int = 0
    deletions: int = 0


# -- trees ------------------------------------------------------------------------------


def _directories(files: Mapping[str, Blob]) -> dict[str, dict[str, Blob | None]]:
    """Directory path ("" for the root) -> entry name -> blob (None for a subdirectory)."""
    dirs: dict[str, dict[str, Blob | None]] = {"": {}}
    for path, blob in files.items():
        parts = path.split("/")
        for depth, name in enumerate(parts):
            parent = "/".join(parts[:depth])
            dirs.setdefault(parent, {})[name] = blob if depth == len(parts) - 1 else None
    return dirs


def tree_ids(files: Mapping[str, Blob]) -> dict[str, str]:
    """Git tree ids of the root ("") and of every directory."""
    dirs = _directories(files)
    ids: dict[str, str] = {}

    def write(directory: str) -> str:
        entries: list[tuple[bytes, bytes]] = []
        for name, blob in dirs[directory].items():
            child = f"{directory}/{name}" if directory else name
            if blob is None:
                oid, mode, key = write(child), "40000", name + "/"
            else:
                oid, mode, key = blob.id, blob.mode, name
            entries.append((key.encode(), f"{mode} {name}".encode() + b"\0" + bytes.fromhex(oid)))
        ids[directory] = git_hash("tree", b"".join(entry for _, entry in sorted(entries)))
        return ids[directory]

    write("")
    return ids


# -- diffs ------------------------------------------------------------------------------


def _hunks(old: bytes, new: bytes) -> tuple[str, int, int]:
    """Unified hunks as GitLab's `diff` field holds them (no ---/+++ header lines)."""
    try:
        old_text, new_text = old.decode(), new.decode()
    except UnicodeDecodeError:
        return "", 0, 0  # binary
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), n=3
        )
    )[2:]
    additions = sum(line.startswith("+") for line in lines)
    deletions = sum(line.startswith("-") for line in lines)
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return text, additions, deletions


def diff_files(old: Mapping[str, Blob], new: Mapping[str, Blob]) -> list[FileDiff]:
    """What changed from `old` to `new`, by path; identical content moved is a rename."""
    removed = sorted(p for p in old if p not in new)
    added = sorted(p for p in new if p not in old)
    renames: dict[str, str] = {}  # new path -> old path
    for path in added:
        source = next(
            (p for p in removed if p not in renames.values() and old[p] == new[path]), None
        )
        if source is not None:
            renames[path] = source
    result: list[FileDiff] = []
    for path in sorted(set(new) | (set(old) - set(renames.values()))):
        if path in renames:
            before = old[renames[path]]
            after = new[path]
            result.append(
                FileDiff(renames[path], path, before.mode, after.mode, "", renamed_file=True)
            )
        elif path not in old:
            text, adds, dels = _hunks(b"", new[path].data)
            result.append(
                FileDiff(path, path, NO_MODE, new[path].mode, text, True, False, False, adds, dels)
            )
        elif path not in new:
            text, adds, dels = _hunks(old[path].data, b"")
            result.append(
                FileDiff(path, path, old[path].mode, NO_MODE, text, False, False, True, adds, dels)
            )
        elif old[path] != new[path]:
            text, adds, dels = _hunks(old[path].data, new[path].data)
            result.append(
                FileDiff(
                    path, path, old[path].mode, new[path].mode, text, additions=adds, deletions=dels
                )
            )
    return result


# -- the repository -----------------------------------------------------------------------


class Repository:
    """Commits by id, branches (name -> commit id) and tags. Not thread-safe on its own:
    the fake's state lock guards it."""

    def __init__(self) -> None:
        self.commits: dict[str, Commit] = {}
        self.branches: dict[str, str] = {}
        self.tags: dict[str, Tag] = {}

    @property
    def empty(self) -> bool:
        return not self.commits

    def write_commit(
        self,
        files: Mapping[str, Blob],
        parents: Iterable[str],
        message: str,
        author: Signature,
        committer: Signature | None = None,
    ) -> Commit:
        """Store a commit object (no ref moves); the same content gives the same id."""
        committer = committer or author
        parent_ids = tuple(parents)
        snapshot = dict(sorted(files.items()))
        tree_id = tree_ids(snapshot)[""]
        header = "".join(f"parent {p}\n" for p in parent_ids)
        body = (
            f"tree {tree_id}\n{header}author {author.line()}\n"
            f"committer {committer.line()}\n\n{message}"
        )
        commit_id = git_hash("commit", body.encode())
        if commit_id not in self.commits:
            self.commits[commit_id] = Commit(
                commit_id,
                tree_id,
                parent_ids,
                message,
                author,
                committer,
                snapshot,
                len(self.commits),
            )
        return self.commits[commit_id]

    # -- refs ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> Commit | None:
        """A full id, a tag, a branch, or an unambiguous abbreviated id (git's order)."""
        if ref in self.commits:
            return self.commits[ref]
        if ref.startswith("refs/tags/"):
            ref = ref[len("refs/tags/") :]
        elif ref.startswith("refs/heads/"):
            ref = ref[len("refs/heads/") :]
        if ref in self.tags:
            return self.commits[self.tags[ref].commit_id]
        if ref in self.branches:
            return self.commits[self.branches[ref]]
        lowered = ref.lower()
        if len(lowered) >= MIN_ABBREV and _HEX.match(lowered):
            found = [c for sha, c in self.commits.items() if sha.startswith(lowered)]
            if len(found) == 1:
                return found[0]
        return None

    def refs_containing(self, commit_id: str) -> tuple[list[str], list[str]]:
        """Branches and tags whose history holds the commit (`git branch/tag --contains`)."""
        branches = sorted(n for n, sha in self.branches.items() if self.is_ancestor(commit_id, sha))
        tags = sorted(n for n, t in self.tags.items() if self.is_ancestor(commit_id, t.commit_id))
        return branches, tags

    # -- history --------------------------------------------------------------------------

    def ancestors(self, commit_id: str, *, first_parent: bool = False) -> set[str]:
        """The commit and every commit reachable from it."""
        seen: set[str] = set()
        stack = [commit_id]
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            parents = self.commits[sha].parent_ids
            stack.extend(parents[:1] if first_parent else parents)
        return seen

    def is_ancestor(self, ancestor: str, of: str) -> bool:
        return ancestor in self.ancestors(of)

    def merge_base(self, commit_ids: Iterable[str]) -> Commit | None:
        """A best common ancestor: the newest commit reachable from all of them."""
        common: set[str] | None = None
        for sha in commit_ids:
            reachable = self.ancestors(sha)
            common = reachable if common is None else common & reachable
        if not common:
            return None
        return max((self.commits[sha] for sha in common), key=lambda c: c.sequence)

    def log(
        self,
        heads: Iterable[str],
        *,
        exclude: Iterable[str] = (),
        first_parent: bool = False,
        path: str | None = None,
    ) -> list[Commit]:
        """Commits reachable from `heads` and not from `exclude`, newest first (`git log`)."""
        reachable: set[str] = set()
        for sha in heads:
            reachable |= self.ancestors(sha, first_parent=first_parent)
        for sha in exclude:
            reachable -= self.ancestors(sha)
        commits = sorted(
            (self.commits[sha] for sha in reachable),
            key=lambda c: (c.committer.when, c.sequence),
            reverse=True,
        )
        if path:
            commits = [c for c in commits if self.touches(c, path)]
        return commits

    def touches(self, commit: Commit, path: str) -> bool:
        """True when the commit changed `path` (a file, or anything under a directory)."""

        def under(files: Mapping[str, Blob]) -> dict[str, Blob]:
            prefix = path.rstrip("/") + "/"
            return {p: b for p, b in files.items() if p == path or p.startswith(prefix)}

        mine = under(commit.files)
        if not commit.parent_ids:
            return bool(mine)
        return all(under(self.commits[p].files) != mine for p in commit.parent_ids)

    def last_commit_for(self, commit: Commit, path: str) -> Commit:
        """The commit that last changed the file, following a parent that kept it (`git log -1`)."""
        current = commit
        blob = commit.files.get(path)
        while True:
            same = next(
                (p for p in current.parent_ids if self.commits[p].files.get(path) == blob),
                None,
            )
            if same is None:
                return current
            current = self.commits[same]

    # -- trees --------------------------------------------------------------------------

    def tree(
        self, commit: Commit, path: str = "", *, recursive: bool = False
    ) -> list[TreeEntry] | None:
        """`git ls-tree` of a directory, trees first; None when there is no such directory."""
        path = path.strip("/")
        dirs = _directories(commit.files)
        if path not in dirs:
            return None
        ids = tree_ids(commit.files)
        prefix = f"{path}/" if path else ""
        wanted = [d for d in dirs if d.startswith(prefix) or d == path] if recursive else [path]
        trees: list[TreeEntry] = []
        blobs: list[TreeEntry] = []
        for directory in wanted:
            for name, blob in dirs[directory].items():
                child = f"{directory}/{name}" if directory else name
                if not child.startswith(prefix):
                    continue
                if blob is None:
                    trees.append(TreeEntry(ids[child], name, "tree", child, TREE_MODE))
                else:
                    blobs.append(TreeEntry(blob.id, name, "blob", child, blob.mode))
        return sorted(trees, key=lambda e: e.path) + sorted(blobs, key=lambda e: e.path)


def merge_files(
    base: Mapping[str, Blob], ours: Mapping[str, Blob], theirs: Mapping[str, Blob]
) -> tuple[dict[str, Blob], list[str]]:
    """A three-way merge by whole file: the merged snapshot and the conflicting paths."""
    merged: dict[str, Blob] = {}
    conflicts: list[str] = []
    for path in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or t == b:
            result = o
        elif o == b:
            result = t
        else:
            conflicts.append(path)
            result = o
        if result is not None:
            merged[path] = result
    return merged, conflicts
