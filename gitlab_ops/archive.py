"""A repository archive (`GET /projects/:id/repository/archive`) read into path -> text.

One request reads a whole tree, where reading it file by file costs a call per
file: tens of thousands on a monorepo, inside one delivery's lease
(https://docs.gitlab.com/api/repositories/#get-file-archive). The download is
spooled to a temporary file, so memory holds only the text files kept, and
limits on entries and uncompressed bytes refuse an absurd archive before it
costs more than that.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from tempfile import SpooledTemporaryFile
from typing import IO

from flags.errors import Refusal

MAX_FILE_BYTES = 1024 * 1024  # larger files are data, not code the cleanup rewrites
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # past this the download moves to disk
CHUNK_BYTES = 64 * 1024

TOO_LARGE = (
    "the archive of {project} at {sha} holds more than {limit:,} bytes uncompressed "
    "(the cleanup reads at most that much); remove the flag in a local checkout with "
    "`rollout-bot cleanup rewrite {flag}` instead"
)
TOO_MANY_FILES = (
    "the archive of {project} at {sha} holds more than {limit:,} entries "
    "(the cleanup reads at most that many); remove the flag in a local checkout with "
    "`rollout-bot cleanup rewrite {flag}` instead"
)
UNREADABLE = "the archive of {project} at {sha} is not a readable tar.gz: {reason}"


class ArchiveTooLarge(Refusal):
    """The archive is past a limit: the message names the limit."""


class UnreadableArchive(Exception):
    """The bytes are no gzip tar (a cut download, most likely)."""


@dataclass(frozen=True)
class ArchiveLimits:
    # GitLab's own repository is about 80,000 files and 1 GB: room above that.
    max_bytes: int = 4 * 1024**3
    max_entries: int = 250_000


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class Archive:
    """Which archive is read, for the messages."""

    project: str
    sha: str
    flag: str


def spool(chunks: Iterable[bytes], archive: Archive, limits: ArchiveLimits) -> IO[bytes]:
    """The downloaded bytes in a temporary file, rewound; refused past `max_bytes`."""
    spooled: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limits.max_bytes:
                raise _too_large(archive, limits)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled


def text_files(
    tar_gz: IO[bytes], archive: Archive, limits: ArchiveLimits, wanted: Callable[[str], bool]
) -> dict[str, str]:
    """Every wanted text file of a gzip tar made by `git archive`, by repository path.

    The archive's top-level folder (`<project>-<ref>-<sha>/`) is stripped;
    anything but a regular file (folders, symlinks, the pax header) is skipped,
    and so are files too large to be code, binary or not UTF-8.
    """
    files: dict[str, str] = {}
    entries = 0
    total = 0
    try:
        # Stream mode reads the gzip once, front to back, like the download arrived.
        with tarfile.open(fileobj=tar_gz, mode="r|gz") as tar:
            # tarfile keeps every header it has read (about 500 bytes each): the
            # entry limit bounds that too (250,000 entries, about 125 MB).
            while (member := tar.next()) is not None:
                entries += 1
                if entries > limits.max_entries:
                    raise ArchiveTooLarge(
                        TOO_MANY_FILES.format(
                            project=archive.project,
                            sha=archive.sha,
                            limit=limits.max_entries,
                            flag=archive.flag,
                        )
                    )
                if not member.isreg():
                    continue
                total += member.size
                if total > limits.max_bytes:
                    raise _too_large(archive, limits)
                path = repository_path(member.name)
                if path is None or member.size > MAX_FILE_BYTES or not wanted(path):
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                text = decode_text(extracted.read())
                if text is not None:
                    files[path] = text
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise UnreadableArchive(
            UNREADABLE.format(project=archive.project, sha=archive.sha, reason=exc)
        ) from exc
    return files


def repository_path(name: str) -> str | None:
    """`<top>/app/x.py` -> `app/x.py`; None for the top folder or a path leaving it."""
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or parts[0] == "/" or ".." in parts:
        return None
    return "/".join(parts[1:])


def decode_text(raw: bytes) -> str | None:
    """A file's text; None when it is binary or too large to be code."""
    if len(raw) > MAX_FILE_BYTES or b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _too_large(archive: Archive, limits: ArchiveLimits) -> ArchiveTooLarge:
    return ArchiveTooLarge(
        TOO_LARGE.format(
            project=archive.project, sha=archive.sha, limit=limits.max_bytes, flag=archive.flag
        )
    )
