"""Repository archives as `git archive` writes them and GitLab serves them
(repositories.md, "Get file archive"): one commit's files under a top-level folder.

The folder (and file name) is GitLab's `Repository#archive_prefix` with
`append_sha: true`, as the API asks: `<project path>-<ref>-<sha>`, `/` in the ref
turned into `-`, then `-<path>` when only a subfolder was asked for. Like git, a
tar starts with a pax global header whose `comment` is the commit id, holds
folders as entries of their own, and gives every entry the commit's time, owner
`root` and modes 0664 / 0775 (git's `tar.umask` 002).
"""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
import zipfile
from collections.abc import Mapping

from tests.fake_gitlab.repository import Blob, Commit

# The `format` suffixes the API documents, and the archive each one is.
FORMATS = {
    "tar.gz": "tar.gz",
    "tar.bz2": "tar.bz2",
    "tbz": "tar.bz2",
    "tbz2": "tar.bz2",
    "tb2": "tar.bz2",
    "bz2": "tar.bz2",
    "tar": "tar",
    "zip": "zip",
}
CONTENT_TYPES = {"zip": "application/zip"}  # Workhorse: everything else is octet-stream
FILE_MODE = 0o664
EXECUTABLE_MODE = 0o775
FOLDER_MODE = 0o775
GZIP_LEVEL = 6  # `gzip -n`'s default, which Gitaly pipes `git archive` through


def prefix(project_path: str, ref: str, sha: str, path: str) -> str:
    parts = [project_path, ref.replace("/", "-"), sha]
    if path:
        parts.append(path.strip("/").replace("/", "-"))
    return "-".join(parts)


def selected(commit: Commit, path: str) -> dict[str, Blob]:
    """The commit's files under `path` (all of them for an empty path), by full path."""
    folder = path.strip("/")
    if not folder:
        return dict(commit.files)
    return {p: b for p, b in commit.files.items() if p == folder or p.startswith(f"{folder}/")}


def _tree_order(files: Mapping[str, Blob]) -> list[str]:
    """Files and folders (`name/`) in the order `git archive` walks the tree: git
    compares a folder's name with `/` appended, so byte order of these paths is it."""
    folders: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
    return sorted([*folders, *files], key=lambda p: p.encode())


def _tar(commit: Commit, files: Mapping[str, Blob], top: str) -> bytes:
    when = int(commit.committer.when.timestamp())
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": commit.id}
    ) as tar:

        def entry(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size, info.mtime = kind, mode, size, when
            info.uname = info.gname = "root"
            return info

        tar.addfile(entry(f"{top}/", tarfile.DIRTYPE, FOLDER_MODE))
        for path in _tree_order(files):
            if path.endswith("/"):
                tar.addfile(entry(f"{top}/{path}", tarfile.DIRTYPE, FOLDER_MODE))
                continue
            blob = files[path]
            mode = EXECUTABLE_MODE if blob.executable else FILE_MODE
            info = entry(f"{top}/{path}", tarfile.REGTYPE, mode, len(blob.data))
            tar.addfile(info, io.BytesIO(blob.data))
    return out.getvalue()


def _zip(commit: Commit, files: Mapping[str, Blob], top: str) -> bytes:
    when = commit.committer.when.timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in ["", *_tree_order(files)]:
            if path == "" or path.endswith("/"):
                info = zipfile.ZipInfo(f"{top}/{path}", when)
                info.external_attr = (0o40000 | FOLDER_MODE) << 16
                archive.writestr(info, b"")
                continue
            blob = files[path]
            info = zipfile.ZipInfo(f"{top}/{path}", when)
            info.external_attr = (EXECUTABLE_MODE if blob.executable else FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, blob.data)
    return out.getvalue()


def archive(commit: Commit, files: Mapping[str, Blob], top: str, kind: str) -> bytes:
    """The archive's bytes; `kind` is a value of FORMATS."""
    if kind == "zip":
        return _zip(commit, files, top)
    tar = _tar(commit, files, top)
    if kind == "tar.gz":
        return gzip.compress(tar, compresslevel=GZIP_LEVEL, mtime=0)
    if kind == "tar.bz2":
        return bz2.compress(tar)
    return tar
