"""The fake GitLab's repository archive, driven by python-gitlab over real HTTP on loopback.

Shaped like GitLab's Repositories API ("Get file archive",
`GET /projects/:id/repository/archive[.format]` with `sha` and `path`) and what
`git archive` writes: a top-level folder `<project path>-<ref>-<sha>`, a pax
global header carrying the commit id, folders as entries of their own.
"""

from __future__ import annotations

import bz2
import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import gitlab
import pytest
import requests
from gitlab.v4.objects import Project as GlProject

from tests.fake_gitlab import MAINTAINER, FakeGitLab, User

SEED = {
    "README.md": "# App\n",
    "app/models/group_stage.py": "x = 1\n",
    "app/models/user.py": "class User:\n    pass\n",
    "app-config.yml": "a: 1\n",
    "bin/run": "#!/bin/sh\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0",
}


@dataclass
class World:
    fake: FakeGitLab
    bot: User
    outsider: User
    sha: str


@pytest.fixture
def world(fake_gitlab: FakeGitLab) -> World:
    fake = fake_gitlab
    bot = fake.create_user("rollout_bot")
    outsider = fake.create_user("mallory")
    project = fake.create_project(fake.create_group("gitlab-org"), "gitlab", visibility="private")
    fake.add_member(project, bot, MAINTAINER)
    fake.seed_repository(project, SEED)
    head = fake.commit_as(
        bot,
        project,
        "main",
        [{"action": "chmod", "file_path": "bin/run", "execute_filemode": True}],
        "Make bin/run executable",
    )
    return World(fake, bot, outsider, head.id)


@pytest.fixture
def project(world: World) -> Iterator[GlProject]:
    with gitlab.Gitlab(world.fake.url, private_token=world.bot.token) as gl:
        yield gl.projects.get("gitlab-org/gitlab")


def archive_bytes(project: GlProject, **kwargs: str) -> bytes:
    data = project.repository_archive(**kwargs)
    assert isinstance(data, bytes)
    return data


def members(data: bytes, mode: str = "r:gz") -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
        return tar.getmembers()


def contents(data: bytes, mode: str = "r:gz") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isreg() else None
            if extracted is not None:
                found[member.name] = extracted.read()
    return found


def test_the_default_is_a_gzip_tar_of_the_default_branch(world: World, project: GlProject) -> None:
    data = archive_bytes(project)
    top = f"gitlab-main-{world.sha}"
    entries = members(data)
    assert [(m.name, m.type) for m in entries] == [
        (top, tarfile.DIRTYPE),
        (f"{top}/README.md", tarfile.REGTYPE),
        (f"{top}/app-config.yml", tarfile.REGTYPE),  # git compares `app/`: `-` sorts first
        (f"{top}/app", tarfile.DIRTYPE),
        (f"{top}/app/models", tarfile.DIRTYPE),
        (f"{top}/app/models/group_stage.py", tarfile.REGTYPE),
        (f"{top}/app/models/user.py", tarfile.REGTYPE),
        (f"{top}/bin", tarfile.DIRTYPE),
        (f"{top}/bin/run", tarfile.REGTYPE),
        (f"{top}/logo.png", tarfile.REGTYPE),
    ]
    modes = {m.name: m.mode for m in entries}
    assert modes[f"{top}/bin/run"] == 0o775 and modes[f"{top}/README.md"] == 0o664
    assert {(m.uname, m.gname) for m in entries} == {("root", "root")}
    assert contents(data)[f"{top}/logo.png"] == SEED["logo.png"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.pax_headers == {"comment": world.sha}
    (request,) = world.fake.requests_to("GET", r"/repository/archive")
    assert request.status == 200 and request.query == {}


def test_a_sha_pins_the_tree_and_names_the_folder(world: World, project: GlProject) -> None:
    world.fake.seed_repository("gitlab-org/gitlab", {"README.md": "# Changed\n"})
    response = project.repository_archive(sha=world.sha, format="tar.gz", iterator=True)
    data = b"".join(response)  # type: ignore[arg-type]
    top = f"gitlab-{world.sha}-{world.sha}"
    assert contents(data)[f"{top}/README.md"] == b"# App\n"
    (request,) = world.fake.requests_to("GET", r"/repository/archive\.tar\.gz$")
    assert request.query == {"sha": world.sha}


def test_the_answer_headers_are_workhorse_s(world: World) -> None:
    url = f"{world.fake.url}/api/v4/projects/gitlab-org%2Fgitlab/repository/archive.zip"
    response = requests.get(
        url, params={"sha": "main"}, headers={"PRIVATE-TOKEN": world.bot.token}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="gitlab-main-{world.sha}.zip"'
    )
    tar = requests.get(
        url.removesuffix(".zip"), headers={"PRIVATE-TOKEN": world.bot.token}, timeout=10
    )
    assert tar.headers["Content-Type"] == "application/octet-stream"
    assert tar.headers["Content-Disposition"] == (
        f'attachment; filename="gitlab-main-{world.sha}.tar.gz"'
    )


def test_a_path_keeps_one_folder(world: World, project: GlProject) -> None:
    data = archive_bytes(project, sha=world.sha, path="app/models")
    top = f"gitlab-{world.sha}-{world.sha}-app-models"
    assert sorted(contents(data)) == [
        f"{top}/app/models/group_stage.py",
        f"{top}/app/models/user.py",
    ]


@pytest.mark.parametrize(
    ("suffix", "opener"),
    [("tar", "r:"), ("tar.bz2", "r:bz2"), ("tbz", "r:bz2"), ("tbz2", "r:bz2"), ("bz2", "r:bz2")],
)
def test_tar_formats(world: World, project: GlProject, suffix: str, opener: str) -> None:
    data = archive_bytes(project, sha=world.sha, format=suffix)
    if opener == "r:bz2":
        assert data.startswith(b"BZh") and bz2.decompress(data)
    top = f"gitlab-{world.sha}-{world.sha}"
    assert contents(data, opener)[f"{top}/bin/run"] == b"#!/bin/sh\n"


def test_zip(world: World, project: GlProject) -> None:
    data = archive_bytes(project, sha=world.sha, format="zip")
    top = f"gitlab-{world.sha}-{world.sha}"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read(f"{top}/app/models/user.py") == SEED["app/models/user.py"].encode()
        assert f"{top}/app/models/" in archive.namelist()
        assert archive.getinfo(f"{top}/bin/run").external_attr >> 16 == 0o775


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"sha": "0" * 40}, {"message": "404 File Not Found"}),
        ({"sha": "no-such-branch"}, {"message": "404 File Not Found"}),
        ({"path": "no/such/folder"}, {"message": "404 File Not Found"}),
        ({"format": "rar"}, {"error": "404 Not Found"}),
    ],
)
def test_what_gitlab_answers_404(project: GlProject, kwargs: dict[str, str], body: object) -> None:
    with pytest.raises(gitlab.GitlabListError) as raised:
        project.repository_archive(**kwargs)
    assert raised.value.response_code == 404
    assert json.loads(raised.value.response_body or b"null") == body


def test_a_private_project_is_not_found_for_an_outsider(world: World) -> None:
    with gitlab.Gitlab(world.fake.url, private_token=world.outsider.token) as gl:
        lazy = gl.projects.get("gitlab-org/gitlab", lazy=True)
        with pytest.raises(gitlab.GitlabListError) as raised:
            lazy.repository_archive()
    assert raised.value.response_code == 404
    assert json.loads(raised.value.response_body or b"null") == {"message": "404 Project Not Found"}
