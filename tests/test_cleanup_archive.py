"""The cleanup merge request read from one archive of one commit, against the fake GitLab.

python-gitlab talks HTTP to the fake; the fake's request log shows what the
bot asked for: one archive, no file-by-file reads, the commit based on the
very commit the archive came from.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
import time
from dataclasses import dataclass

import pytest

from flags.results import EnvironmentState
from flags.state import ON
from gitlab_ops import archive
from gitlab_ops.archive import Archive, ArchiveLimits, ArchiveTooLarge, UnreadableArchive
from gitlab_ops.client import GitLab
from gitlab_ops.merge_requests import cleanup_branch, open_cleanup
from gitlab_ops.repository import Repository
from tests.fake_gitlab import MAINTAINER, FakeGitLab, Project

FLAG = "my_flag"
DEFINITION = f"config/feature_flags/development/{FLAG}.yml"
NAMES = f'"""Flag names, imported where they are checked."""\n\nMY_FLAG = "{FLAG}"\n'
VIEWS = (
    "from app.names import MY_FLAG\n\n\n"
    "def view(flags):\n"
    "    if flags.enabled(MY_FLAG):\n"
    '        return "new"\n'
    '    return "old"\n'
)
SEED = {
    DEFINITION: f"---\nname: {FLAG}\ntype: development\ndefault_enabled: false\n",
    "app/names.py": NAMES,
    "app/views.py": VIEWS,
    "app/other.py": "def other():\n    return 1\n",
    "README.md": "# App\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0",
}
ON_IN_PRODUCTION = EnvironmentState("production", ON, False)
ARCHIVE_PATH = r"/repository/archive"


@dataclass
class World:
    fake: FakeGitLab
    project: Project
    repo: Repository


@pytest.fixture
def world(fake_gitlab: FakeGitLab) -> World:
    fake = fake_gitlab
    bot = fake.create_user("rollout-bot")
    project = fake.create_project(fake.create_group("gitlab-org"), "gitlab")
    fake.add_member(project, bot, MAINTAINER)
    fake.seed_repository(project, SEED)
    repo = Repository(GitLab(fake.url, bot.token), "gitlab-org/gitlab")
    return World(fake, project, repo)


def test_the_mr_is_planned_from_one_archive_of_the_head_commit(world: World) -> None:
    head = world.fake.repository(world.project).resolve("main")
    assert head is not None
    before = len(world.fake.requests)
    opened = open_cleanup(world.repo, FLAG, None, production=ON_IN_PRODUCTION)
    assert opened.created and opened.plan is not None
    requests = world.fake.requests[before:]
    (download,) = world.fake.requests_to("GET", ARCHIVE_PATH)
    assert download.path.endswith("/repository/archive.tar.gz")
    assert download.query == {"sha": head.id}
    assert not world.fake.requests_to("GET", r"/repository/(files|tree|blobs)")
    (commit,) = world.fake.requests_to("POST", r"/repository/commits$")
    assert commit.json["start_sha"] == head.id and "start_branch" not in commit.json
    assert len(requests) <= 10
    branch = cleanup_branch(FLAG)
    tip = world.fake.repository(world.project).resolve(branch)
    assert tip is not None and tip.parent_ids == (head.id,)
    assert world.fake.read_file(world.project, DEFINITION, branch) is None


def test_a_constant_imported_from_another_module_is_rewritten(world: World) -> None:
    open_cleanup(world.repo, FLAG, None, production=ON_IN_PRODUCTION)
    views = world.fake.read_file(world.project, "app/views.py", cleanup_branch(FLAG))
    assert views is not None
    assert "flags.enabled" not in views and "MY_FLAG" not in views
    assert 'return "new"' in views and 'return "old"' not in views
    untouched = world.fake.read_file(world.project, "app/other.py", cleanup_branch(FLAG))
    assert untouched == SEED["app/other.py"]


def test_a_push_during_the_download_does_not_mix_two_trees(world: World) -> None:
    head = world.fake.repository(world.project).resolve("main")
    assert head is not None
    world.fake.delay(1.0, method="GET", path=ARCHIVE_PATH)
    late = {"app/late.py": f'def late(flags):\n    return flags.enabled("{FLAG}")\n'}

    def push_once_the_download_started() -> None:
        deadline = time.monotonic() + 10
        while not world.fake.requests_to("GET", ARCHIVE_PATH):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        world.fake.seed_repository(world.project, late, message="A late push")

    pusher = threading.Thread(target=push_once_the_download_started)
    pusher.start()
    opened = open_cleanup(world.repo, FLAG, None, production=ON_IN_PRODUCTION)
    pusher.join()
    moved = world.fake.repository(world.project).resolve("main")
    assert moved is not None and moved.id != head.id
    tip = world.fake.repository(world.project).resolve(cleanup_branch(FLAG))
    assert tip is not None and tip.parent_ids == (head.id,)
    assert "app/late.py" not in tip.files
    assert opened.plan is not None and "app/late.py" not in opened.plan.rewritten


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (ArchiveLimits(max_entries=4), archive.TOO_MANY_FILES),
        (ArchiveLimits(max_bytes=200), archive.TOO_LARGE),
    ],
)
def test_an_archive_over_a_limit_is_refused_and_nothing_is_pushed(
    world: World, limits: ArchiveLimits, message: str
) -> None:
    head = world.fake.repository(world.project).resolve("main")
    assert head is not None
    with pytest.raises(ArchiveTooLarge) as refused:
        open_cleanup(world.repo, FLAG, None, production=ON_IN_PRODUCTION, limits=limits)
    limit = limits.max_entries if message == archive.TOO_MANY_FILES else limits.max_bytes
    assert str(refused.value) == message.format(
        project="gitlab-org/gitlab", sha=head.id, limit=limit, flag=FLAG
    )
    assert "rollout-bot cleanup rewrite my_flag" in str(refused.value)
    assert not world.fake.requests_to("POST", r"/repository/commits$")
    assert not world.project.merge_requests


# -- reading a tar.gz, without GitLab ---------------------------------------------------------

TOP = "gitlab-abc-abc"
ABOUT = Archive(project="gitlab-org/gitlab", sha="abc", flag=FLAG)


def tar_gz(*entries: tuple[str, bytes | None, bytes]) -> bytes:
    """(name, type, data) entries; a symlink's data is its target."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind or tarfile.REGTYPE
            if info.type == tarfile.SYMTYPE:
                info.linkname = data.decode()
                tar.addfile(info)
            elif info.type == tarfile.DIRTYPE:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def read(data: bytes, limits: ArchiveLimits | None = None) -> dict[str, str]:
    return archive.text_files(
        io.BytesIO(data), ABOUT, limits or ArchiveLimits(), lambda path: path.endswith(".py")
    )


def test_only_wanted_regular_text_files_are_kept_under_their_repository_paths() -> None:
    data = tar_gz(
        (f"{TOP}/", tarfile.DIRTYPE, b""),
        (f"{TOP}/app/", tarfile.DIRTYPE, b""),
        (f"{TOP}/app/a.py", None, b"a = 1\n"),
        (f"{TOP}/app/link.py", tarfile.SYMTYPE, b"a.py"),
        (f"{TOP}/app/binary.py", None, b"x\0y"),
        (f"{TOP}/app/latin1.py", None, "café".encode("latin-1")),
        (f"{TOP}/app/huge.py", None, b"#" * (archive.MAX_FILE_BYTES + 1)),
        (f"{TOP}/README.md", None, b"# not wanted\n"),
        (f"{TOP}/../escape.py", None, b"x = 1\n"),
        ("stray.py", None, b"x = 1\n"),
    )
    assert read(data) == {"app/a.py": "a = 1\n"}


def test_a_small_gzip_that_unpacks_past_the_limit_is_refused() -> None:
    bomb = tar_gz((f"{TOP}/zeros.py", None, b"\0" * 1_000_000))
    assert len(bomb) < 10_000
    with pytest.raises(ArchiveTooLarge) as refused:
        read(bomb, ArchiveLimits(max_bytes=100_000))
    assert str(refused.value) == archive.TOO_LARGE.format(
        project="gitlab-org/gitlab", sha="abc", limit=100_000, flag=FLAG
    )
    assert "100,000 bytes" in str(refused.value)


def test_a_download_past_the_limit_is_refused_while_it_arrives() -> None:
    chunks = iter([b"x" * 60, b"x" * 60, b"never read"])
    with pytest.raises(ArchiveTooLarge):
        archive.spool(chunks, ABOUT, ArchiveLimits(max_bytes=100))
    assert next(chunks) == b"never read"


def test_a_cut_download_is_unreadable() -> None:
    whole = tar_gz((f"{TOP}/a.py", None, b"a = 1\n" * 1000))
    for broken in (whole[: len(whole) // 2], b"not a gzip at all", gzip.compress(b"no tar")):
        with pytest.raises(UnreadableArchive, match="is not a readable tar.gz"):
            read(broken)
