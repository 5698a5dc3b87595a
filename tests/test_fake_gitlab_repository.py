"""The fake GitLab's repositories, merge requests, tags and deployments, driven by
python-gitlab over real HTTP on loopback. Shapes and errors follow GitLab's API docs
(commits, branches, repository_files, repositories, merge_requests, tags,
deployments, environments); Merge Request Hooks carry the keys of this project's fixture
(tests/fixtures/gitlab/webhooks/merge_request_hook.json, which follows the "Merge request
events" example of https://docs.gitlab.com/user/project/integrations/webhook_events/).
./scripts/conformance checks them against the documented example itself.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gitlab
import pytest
import requests
from gitlab.v4.objects import Project as GlProject

from tests.fake_gitlab import (
    DEVELOPER,
    MAINTAINER,
    FakeGitLab,
    HookReceiver,
    Project,
    ServiceError,
    User,
)
from tests.fake_gitlab.fixtures import fake_gitlab_fixture, hook_receiver_fixture  # noqa: F401
from tests.fake_gitlab.payloads import MERGE_REQUEST_CHANGE_KEYS
from tests.fixtures.gitlab import fixture
from tests.test_fake_gitlab import error_body, missing_keys

FLAG_YAML = "config/feature_flags/gitlab_com_derisk/my_flag.yml"
SEED = {
    "README.md": "# App\n",
    FLAG_YAML: "---\nname: my_flag\ntype: gitlab_com_derisk\ndefault_enabled: false\n",
    "app/models/group_stage.py": "from flags import enabled\n\nif enabled('my_flag'):\n    x = 1\n",
    "app/models/user.py": "class User:\n    pass\n",
    "bin/run": "#!/bin/sh\n",
}
SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class World:
    fake: FakeGitLab
    receiver: HookReceiver
    project: Project
    alice: User  # Maintainer: may push to and merge into main
    bot: User  # Developer: pushes branches, opens merge requests
    outsider: User
    initial: str  # the seeded commit on main


def make_world(fake: FakeGitLab, hook_receiver: HookReceiver) -> World:
    """A seeded project, a maintainer, the bot and a hook (for conformance/ as well)."""
    alice = fake.create_user("alice", name="Alice Liddell", public_email="alice@example.com")
    bot = fake.create_user("rollout_bot", name="Rollout Bot")
    outsider = fake.create_user("mallory")
    project = fake.create_project(fake.create_group("gitlab-org"), "gitlab")
    fake.add_member(project, alice, MAINTAINER)
    fake.add_member(project, bot, DEVELOPER)
    fake.add_hook(hook_receiver.url, token="s3cret")
    initial = fake.seed_repository(project, SEED)
    return World(fake, hook_receiver, project, alice, bot, outsider, initial.id)


@pytest.fixture
def world(fake_gitlab: FakeGitLab, hook_receiver: HookReceiver) -> World:
    return make_world(fake_gitlab, hook_receiver)


def client(world: World, user: User) -> gitlab.Gitlab:
    return gitlab.Gitlab(world.fake.url, private_token=user.token)


@pytest.fixture
def project(world: World) -> Iterator[GlProject]:
    """The project through python-gitlab, as the bot (a Developer)."""
    with client(world, world.bot) as gl:
        yield gl.projects.get("gitlab-org/gitlab")


@pytest.fixture
def as_alice(world: World) -> Iterator[GlProject]:
    """The project through python-gitlab, as alice (a Maintainer)."""
    with client(world, world.alice) as gl:
        yield gl.projects.get("gitlab-org/gitlab")


def as_dict(value: object) -> dict[str, Any]:
    """python-gitlab types its raw answers loosely: a dict it is."""
    assert isinstance(value, dict)
    return value


def as_list(value: object) -> list[dict[str, Any]]:
    assert isinstance(value, list)
    return value


def cleanup_branch(project: GlProject, branch: str = "cleanup") -> Any:
    """The cleanup MR's commit: the definition deleted, the code rewritten."""
    return project.commits.create(
        {
            "branch": branch,
            "start_branch": "main",
            "commit_message": "Remove my_flag\n\nChangelog: removed",
            "actions": [
                {"action": "delete", "file_path": FLAG_YAML},
                {
                    "action": "update",
                    "file_path": "app/models/group_stage.py",
                    "content": "x = 1\n",
                },
            ],
        }
    )


# -- commits ----------------------------------------------------------------------------------


def test_seeded_commit_is_a_git_commit(world: World, project: GlProject) -> None:
    commit = project.commits.get(world.initial)
    assert SHA.match(commit.id) and commit.short_id == commit.id[:8]
    assert (commit.title, commit.message, commit.parent_ids) == (
        "Initial commit",
        "Initial commit",
        [],
    )
    assert (commit.author_name, commit.author_email) == ("Administrator", "admin@example.com")
    assert commit.created_at == commit.committed_date
    assert commit.web_url == f"{world.fake.url}/gitlab-org/gitlab/-/commit/{commit.id}"
    assert commit.stats == {"additions": 12, "deletions": 0, "total": 12}
    # a branch name, an abbreviated sha and HEAD name the same commit
    for ref in ("main", commit.id[:10], "HEAD"):
        assert project.commits.get(ref).id == commit.id
    assert project.empty_repo is False
    readme = project.files.get("README.md", ref="main")
    git_blob = hashlib.sha1(b"blob 6\0# App\n", usedforsecurity=False).hexdigest()
    assert readme.blob_id == git_blob  # Git's own object ids


def test_commit_with_every_action(world: World, project: GlProject) -> None:
    commit = project.commits.create(
        {
            "branch": "feature/actions",
            "start_branch": "main",
            "commit_message": "Every action\n\nSome detail.\n\nChangelog: removed",
            "author_name": "Ghost Writer",
            "author_email": "ghost@example.com",
            "actions": [
                {"action": "create", "file_path": "docs/new.md", "content": "new\n"},
                {
                    "action": "create",
                    "file_path": "data.bin",
                    "content": base64.b64encode(b"\x00\x01").decode(),
                    "encoding": "base64",
                },
                {"action": "update", "file_path": "README.md", "content": "# App\n\nMore.\n"},
                {"action": "delete", "file_path": FLAG_YAML},
                {
                    "action": "move",
                    "file_path": "app/models/person.py",
                    "previous_path": "app/models/user.py",
                },
                {"action": "chmod", "file_path": "bin/run", "execute_filemode": True},
            ],
        }
    )
    assert commit.parent_ids == [world.initial]
    assert (commit.author_name, commit.committer_name) == ("Ghost Writer", "Rollout Bot")
    assert commit.title == "Every action"
    assert commit.trailers == {"Changelog": "removed"}
    assert commit.extended_trailers == {"Changelog": ["removed"]}
    assert project.files.raw("data.bin", ref="feature/actions") == b"\x00\x01"
    assert project.files.get("bin/run", ref="feature/actions").execute_filemode is True

    diffs = {d["new_path"]: d for d in project.commits.get(commit.id).diff(get_all=True)}
    assert set(diffs) == {
        "README.md",
        FLAG_YAML,
        "app/models/person.py",
        "bin/run",
        "data.bin",
        "docs/new.md",
    }
    assert diffs["docs/new.md"]["new_file"] and diffs["docs/new.md"]["a_mode"] == "0"
    assert diffs["docs/new.md"]["diff"] == "@@ -0,0 +1 @@\n+new\n"
    assert diffs[FLAG_YAML]["deleted_file"] and diffs[FLAG_YAML]["b_mode"] == "0"
    moved = diffs["app/models/person.py"]
    assert (moved["renamed_file"], moved["old_path"]) == (True, "app/models/user.py")
    assert (diffs["bin/run"]["a_mode"], diffs["bin/run"]["b_mode"]) == ("100644", "100755")
    assert diffs["README.md"]["diff"] == "@@ -1 +1,3 @@\n # App\n+\n+More.\n"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"action": "create", "file_path": "README.md", "content": "x"}, "already exists"),
        ({"action": "update", "file_path": "nope.md", "content": "x"}, "doesn't exist"),
        ({"action": "delete", "file_path": "nope.md"}, "doesn't exist"),
        ({"action": "move", "file_path": "a.md", "previous_path": "nope.md"}, "doesn't exist"),
        (
            {"action": "move", "file_path": "README.md", "previous_path": "bin/run"},
            "already exists",
        ),
        ({"action": "chmod", "file_path": "nope", "execute_filemode": True}, "doesn't exist"),
    ],
)
def test_commit_action_errors_are_gitlabs(
    world: World, as_alice: GlProject, action: dict[str, Any], message: str
) -> None:
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        as_alice.commits.create({"branch": "main", "commit_message": "m", "actions": [action]})
    assert caught.value.response_code == 400
    assert error_body(caught.value) == {"message": f"A file with this name {message}"}
    assert as_alice.commits.get("main").id == world.initial  # nothing was committed


def test_commit_branch_and_parameter_errors(world: World, project: GlProject) -> None:
    def refused(data: dict[str, Any]) -> tuple[int, Any]:
        with pytest.raises(gitlab.GitlabCreateError) as caught:
            project.commits.create({"commit_message": "m", "actions": [], **data})
        return caught.value.response_code or 0, error_body(caught.value)

    assert refused({"branch": "new"}) == (
        400,
        {"message": "You can only create or edit files when you are on a branch"},
    )
    cleanup_branch(project)
    assert refused({"branch": "cleanup", "start_branch": "main"}) == (
        400,
        {
            "message": "A branch called 'cleanup' already exists. "
            "Switch to that branch in order to make changes"
        },
    )
    bad = {"branch": "x", "start_branch": "main", "actions": [{"action": "rename"}]}
    assert refused(bad) == (400, {"error": "actions[0][file_path] is missing"})
    bad["actions"] = [{"action": "rename", "file_path": "a"}]
    assert refused(bad) == (400, {"error": "actions[0][action] does not have a valid value"})
    # Developers may not push to the protected default branch
    assert refused({"branch": "main"}) == (
        403,
        {"message": "403 Forbidden - You are not allowed to push into this branch"},
    )


def test_seed_repository_adds_updates_and_deletes(world: World, project: GlProject) -> None:
    fake = world.fake
    fake.seed_repository(world.project, {"README.md": "# New\n", "bin/run": None}, message="m")
    seeded = fake.seed_repository(world.project, {"x.txt": "x\n"}, branch="side")
    assert seeded.parent_ids == (fake.repository(world.project).branches["main"],)
    assert fake.read_file(world.project, "README.md") == "# New\n"
    assert fake.read_file(world.project, "bin/run") is None
    assert project.commits.get("side").parent_ids == [project.commits.get("main").id]


def test_commit_as_runs_the_api_code_path(world: World, project: GlProject) -> None:
    commit = world.fake.commit_as(
        world.bot,
        world.project,
        "cleanup",
        [{"action": "delete", "file_path": FLAG_YAML}],
        "Remove my_flag",
        start_branch="main",
    )
    assert project.commits.get("cleanup").id == commit.id
    assert world.fake.read_file(world.project, FLAG_YAML, "cleanup") is None
    assert world.fake.read_file(world.project, FLAG_YAML) == SEED[FLAG_YAML]
    with pytest.raises(ServiceError) as caught:
        world.fake.commit_as(world.bot, world.project, "main", [], "m")
    assert caught.value.status == 403
    with pytest.raises(ServiceError) as caught:
        world.fake.commit_as(
            world.alice, world.project, "main", [{"action": "delete", "file_path": "x"}], "m"
        )
    assert caught.value.body == {"message": "A file with this name doesn't exist"}


def test_commit_list_is_newest_first_and_paginated(world: World, as_alice: GlProject) -> None:
    for n in range(24):
        world.fake.seed_repository(world.project, {f"notes/{n:02}.txt": f"{n}\n"}, message=f"n{n}")
    commits = as_alice.commits.list(ref_name="main", get_all=True)
    assert [c.title for c in commits[:2]] == ["n23", "n22"]
    assert commits[-1].id == world.initial and len(commits) == 25
    pages = as_alice.commits.list(ref_name="main", per_page=10, iterator=True)
    assert [c.id for c in pages] == [c.id for c in commits]
    listed = world.fake.requests_to("GET", r"/repository/commits$")
    assert [r.query.get("page") for r in listed[-3:]] == [None, "2", "3"]
    # python-gitlab reads a `path` keyword as the URL: pass the filter as a query parameter
    by_path = as_alice.commits.list(ref_name="main", query_parameters={"path": "notes/05.txt"})
    assert [c.title for c in by_path] == ["n5"]
    cleanup_branch(as_alice)
    [only] = as_alice.commits.list(ref_name="main..cleanup")
    assert only.title == "Remove my_flag"
    assert len(as_alice.commits.list(all=True, get_all=True)) == 26


def test_commit_list_sends_no_totals(world: World, project: GlProject) -> None:
    response = project.manager.gitlab.http_get(
        f"/projects/{world.project.id}/repository/commits", raw=True
    )
    assert isinstance(response, requests.Response)
    assert "X-Total" not in response.headers and response.headers["X-Page"] == "1"


def test_commit_refs_lists_branches_and_tags_containing_it(
    world: World, as_alice: GlProject
) -> None:
    as_alice.branches.create({"branch": "stable", "ref": "main"})
    as_alice.tags.create({"tag_name": "v18.6.0", "ref": "main"})
    cleanup_branch(as_alice)
    commit = as_alice.commits.get(world.initial)
    assert commit.refs(type="tag") == [{"type": "tag", "name": "v18.6.0"}]
    assert [r["name"] for r in commit.refs(type="branch")] == ["cleanup", "main", "stable"]
    assert len(commit.refs(get_all=True)) == 4
    newer = as_alice.commits.get("cleanup")
    assert newer.refs(type="all") == [{"type": "branch", "name": "cleanup"}]


# -- branches ---------------------------------------------------------------------------------


def test_branches(world: World, project: GlProject) -> None:
    created = project.branches.create({"branch": "feature/rollout-bot", "ref": "main"})
    assert (created.name, created.protected, created.default) == (
        "feature/rollout-bot",
        False,
        False,
    )
    assert created.commit["id"] == world.initial
    got = project.branches.get("feature/rollout-bot")  # sent as feature%2Frollout-bot
    assert got.web_url == f"{world.fake.url}/gitlab-org/gitlab/-/tree/feature/rollout-bot"
    assert got.merged is True and got.can_push is True
    main = project.branches.get("main")
    assert (main.default, main.protected, main.can_push) == (True, True, False)
    assert [b.name for b in project.branches.list(search="^feat")] == ["feature/rollout-bot"]

    def error(call: Any) -> tuple[int, str]:
        with pytest.raises(gitlab.GitlabError) as caught:
            call()
        return caught.value.response_code or 0, caught.value.error_message

    assert error(lambda: project.branches.create({"branch": "main", "ref": "main"})) == (
        400,
        "Branch already exists",
    )
    assert error(lambda: project.branches.create({"branch": "x", "ref": "nope"})) == (
        400,
        "Invalid reference name: nope",
    )
    assert error(lambda: project.branches.create({"branch": "a b", "ref": "main"})) == (
        400,
        "Branch name is invalid",
    )
    assert error(lambda: project.branches.get("nope")) == (404, "404 Branch Not Found")
    got.delete()
    assert [b.name for b in project.branches.list()] == ["main"]
    with client(world, world.alice) as gl:
        main_as_maintainer = gl.projects.get(world.project.id).branches.get("main")
        assert error(main_as_maintainer.delete) == (
            405,
            "The default branch of a project cannot be deleted.",
        )


# -- files ------------------------------------------------------------------------------------


def test_get_file_raw_and_head(world: World, project: GlProject) -> None:
    cleanup_branch(project)
    got = project.files.get("app/models/group_stage.py", ref="cleanup")
    content = b"x = 1\n"
    assert got.decode() == content
    assert (got.file_name, got.file_path, got.size, got.encoding, got.ref) == (
        "group_stage.py",
        "app/models/group_stage.py",
        len(content),
        "base64",
        "cleanup",
    )
    assert got.content_sha256 == hashlib.sha256(content).hexdigest()
    cleanup_sha = project.commits.get("cleanup").id
    assert got.commit_id == got.last_commit_id == cleanup_sha
    readme = project.files.get("README.md", ref="cleanup")
    assert (readme.commit_id, readme.last_commit_id) == (cleanup_sha, world.initial)
    assert project.files.raw("README.md") == b"# App\n"  # default branch
    headers = project.files.head("README.md", ref="main")
    assert headers["X-Gitlab-Last-Commit-Id"] == world.initial
    assert headers["X-Gitlab-File-Path"] == "README.md" and headers["X-Gitlab-Size"] == "6"
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.files.get("nope.txt", ref="main")
    assert caught.value.error_message == "404 File Not Found"
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.files.get("README.md", ref="nope")
    assert caught.value.error_message == "404 Commit Not Found"


def test_create_update_delete_files(world: World, project: GlProject) -> None:
    project.branches.create({"branch": "docs", "ref": "main"})
    created = project.files.create(
        {
            "file_path": "doc/rollout.md",
            "branch": "docs",
            "content": "v1\n",
            "commit_message": "Add doc",
        }
    )
    assert (created.file_path, created.branch) == ("doc/rollout.md", "docs")
    doc = project.files.get("doc/rollout.md", ref="docs")
    doc.content = "v2\n"
    doc.save(branch="docs", commit_message="Update doc")
    assert project.files.raw("doc/rollout.md", ref="docs") == b"v2\n"
    project.files.delete("doc/rollout.md", "docs", "Remove doc")
    assert [c.title for c in project.commits.list(ref_name="docs")][:3] == [
        "Remove doc",
        "Update doc",
        "Add doc",
    ]
    with pytest.raises(gitlab.GitlabCreateError) as create_error:
        project.files.create(
            {"file_path": "README.md", "branch": "docs", "content": "x", "commit_message": "m"}
        )
    assert (create_error.value.response_code, create_error.value.error_message) == (
        400,
        "A file with this name already exists",
    )
    with pytest.raises(gitlab.GitlabUpdateError) as update_error:
        project.files.update("nope.md", {"branch": "docs", "content": "x", "commit_message": "m"})
    assert (update_error.value.response_code, update_error.value.error_message) == (
        400,
        "A file with this name doesn't exist",
    )


# -- tree, compare, merge base ----------------------------------------------------------------


def test_tree_recursive_and_paginated(world: World, project: GlProject) -> None:
    world.fake.seed_repository(world.project, {f"lib/m{n:02}.py": "" for n in range(30)})
    entries = as_list(project.repository_tree(recursive=True, get_all=True))
    paths = [e["path"] for e in entries]
    trees = [e for e in entries if e["type"] == "tree"]
    assert [e["path"] for e in trees] == [
        "app",
        "app/models",
        "bin",
        "config",
        "config/feature_flags",
        "config/feature_flags/gitlab_com_derisk",
        "lib",
    ]
    assert all(e["mode"] == "040000" for e in trees)
    assert len(paths) == 7 + 5 + 30 and "lib/m29.py" in paths
    assert {"id", "name", "type", "path", "mode"} == set(entries[0])
    top = as_list(project.repository_tree(get_all=True))
    assert [e["name"] for e in top] == ["app", "bin", "config", "lib", "README.md"]
    models = as_list(project.repository_tree(path="app/models", ref="main"))
    assert [e["path"] for e in models] == ["app/models/group_stage.py", "app/models/user.py"]
    page = as_list(project.repository_tree(recursive=True, per_page=10, page=5))
    assert [e["path"] for e in page] == paths[40:]
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.repository_tree(path="nope")
    assert caught.value.error_message == "404 Tree Not Found"


def test_compare_and_merge_base(world: World, as_alice: GlProject) -> None:
    cleanup = cleanup_branch(as_alice)
    world.fake.seed_repository(world.project, {"CHANGELOG.md": "- a\n"}, message="Main moves on")
    compared = as_dict(as_alice.repository_compare("main", "cleanup"))
    assert [c["id"] for c in compared["commits"]] == [cleanup.id]
    assert compared["commit"]["id"] == cleanup.id
    assert {d["new_path"] for d in compared["diffs"]} == {FLAG_YAML, "app/models/group_stage.py"}
    assert compared["compare_same_ref"] is False and compared["compare_timeout"] is False
    straight = as_dict(as_alice.repository_compare("main", "cleanup", straight=True))
    assert "CHANGELOG.md" in {d["old_path"] for d in straight["diffs"]}
    same = as_dict(as_alice.repository_compare("main", "main"))
    assert (same["compare_same_ref"], same["commits"], same["diffs"]) == (True, [], [])

    base = as_dict(as_alice.repository_merge_base(["main", "cleanup"]))
    assert (base["id"], base["title"]) == (world.initial, "Initial commit")
    assert (
        as_dict(as_alice.repository_merge_base([cleanup.id, "main", world.initial]))["id"]
        == world.initial
    )
    with pytest.raises(gitlab.GitlabGetError) as caught:
        as_alice.repository_merge_base(["main"])
    assert (caught.value.response_code, caught.value.error_message) == (
        400,
        "Provide at least 2 refs",
    )
    with pytest.raises(gitlab.GitlabGetError) as caught:
        as_alice.repository_merge_base(["main", "nope"])
    assert caught.value.error_message == "Could not find ref: nope"
    with pytest.raises(gitlab.GitlabGetError) as caught:
        as_alice.repository_compare("main", "nope")
    assert caught.value.error_message == "404 Ref Not Found"


# -- tags -------------------------------------------------------------------------------------


def test_tags_lightweight_and_annotated(world: World, project: GlProject) -> None:
    light = project.tags.create({"tag_name": "v18.5.0", "ref": "main"})
    assert (light.target, light.message, light.created_at) == (world.initial, None, None)
    assert light.commit["id"] == world.initial and light.release is None
    assert light.protected is False
    annotated = project.tags.create({"tag_name": "v18.6.0", "ref": "main", "message": "18.6"})
    assert annotated.message == "18.6" and annotated.created_at is not None
    assert SHA.match(annotated.target) and annotated.target != world.initial  # the tag object
    assert project.tags.get("v18.6.0").commit["id"] == world.initial
    assert [t.name for t in project.tags.list(order_by="name", sort="asc")] == [
        "v18.5.0",
        "v18.6.0",
    ]
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        project.tags.create({"tag_name": "v18.6.0", "ref": "main"})
    assert (caught.value.response_code, caught.value.error_message) == (
        400,
        "Tag v18.6.0 already exists",
    )
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.tags.get("v0")
    assert missing.value.error_message == "404 Tag Not Found"


# -- merge requests ---------------------------------------------------------------------------


def test_merge_request_create_get_list_and_edit(world: World, project: GlProject) -> None:
    cleanup = cleanup_branch(project)
    mr = project.mergerequests.create(
        {
            "source_branch": "cleanup",
            "target_branch": "main",
            "title": "[Feature flag] Cleanup `my_flag`",
            "description": "Closes #1",
            "labels": "feature flag,cleanup",
            "remove_source_branch": True,
        }
    )
    assert (mr.iid, mr.project_id, mr.state, mr.sha) == (1, world.project.id, "opened", cleanup.id)
    assert (mr.merge_status, mr.detailed_merge_status, mr.has_conflicts) == (
        "can_be_merged",
        "mergeable",
        False,
    )
    assert mr.labels == ["cleanup", "feature flag"] and mr.force_remove_source_branch
    assert mr.references == {"short": "!1", "relative": "!1", "full": "gitlab-org/gitlab!1"}
    assert mr.web_url == f"{world.fake.url}/gitlab-org/gitlab/-/merge_requests/1"
    assert mr.author["username"] == "rollout_bot" and mr.merge_commit_sha is None
    assert mr.diff_refs == {
        "base_sha": world.initial,
        "head_sha": cleanup.id,
        "start_sha": world.initial,
    }
    assert mr.user == {"can_merge": False}  # a Developer, main is protected

    changes = as_dict(project.mergerequests.get(1).changes())
    assert {c["new_path"] for c in changes["changes"]} == {FLAG_YAML, "app/models/group_stage.py"}
    assert changes["overflow"] is False and changes["changes_count"] == "2"
    diffs = project.manager.gitlab.http_list(
        f"/projects/{world.project.id}/merge_requests/1/diffs", get_all=True
    )
    assert [d["new_path"] for d in diffs] == [
        "app/models/group_stage.py",
        FLAG_YAML,
    ]
    assert [c.id for c in mr.commits()] == [cleanup.id]

    project.branches.create({"branch": "other", "ref": "main"})
    project.mergerequests.create({"source_branch": "other", "target_branch": "main", "title": "t"})
    assert [m.iid for m in project.mergerequests.list(source_branch="cleanup")] == [1]
    assert [m.iid for m in project.mergerequests.list(labels="cleanup")] == [1]
    assert [m.iid for m in project.mergerequests.list(search="my_flag")] == [1]
    assert [m.iid for m in project.mergerequests.list(target_branch="main")] == [2, 1]

    mr.title = "Renamed"
    mr.labels = ["cleanup"]
    mr.save()
    got = project.mergerequests.get(1)
    assert (got.title, got.labels) == ("Renamed", ["cleanup"])
    got.state_event = "close"
    got.save()
    assert got.state == "closed" and got.closed_by["username"] == "rollout_bot"
    assert [m.iid for m in project.mergerequests.list(state="opened")] == [2]
    got.state_event = "reopen"
    got.save()
    assert project.mergerequests.get(1).state == "opened"
    hooks = [h.payload for h in world.receiver.received if h.event == "Merge Request Hook"]
    assert [(h["object_attributes"]["iid"], h["object_attributes"]["action"]) for h in hooks] == [
        (1, "open"),
        (2, "open"),
        (1, "update"),
        (1, "close"),
        (1, "reopen"),
    ]


def test_merge_request_errors(world: World, project: GlProject) -> None:
    cleanup_branch(project)

    def refused(data: dict[str, Any]) -> tuple[int, Any]:
        with pytest.raises(gitlab.GitlabCreateError) as caught:
            project.mergerequests.create({"target_branch": "main", "title": "t", **data})
        return caught.value.response_code or 0, error_body(caught.value)

    assert refused({"source_branch": "nope"}) == (
        422,
        {"message": ['Source branch "nope" does not exist']},
    )
    assert refused({"source_branch": "main"}) == (
        422,
        {"message": ["You must select different branches"]},
    )
    project.mergerequests.create(
        {"source_branch": "cleanup", "target_branch": "main", "title": "t"}
    )
    assert refused({"source_branch": "cleanup"}) == (
        409,
        {"message": ["Another open merge request already exists for this source branch: !1"]},
    )
    with pytest.raises(gitlab.GitlabAuthenticationError) as unauthorized:
        project.mergerequests.get(1).merge()  # a Developer; main is protected
    assert unauthorized.value.error_message == "401 Unauthorized"
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.mergerequests.get(99)
    assert missing.value.error_message == "404 Not found"


def test_merge_makes_a_merge_commit(world: World, project: GlProject, as_alice: GlProject) -> None:
    cleanup = cleanup_branch(project)
    world.fake.seed_repository(world.project, {"CHANGELOG.md": "- a\n"}, message="Main moves on")
    main_before = as_alice.commits.get("main").id
    project.mergerequests.create(
        {
            "source_branch": "cleanup",
            "target_branch": "main",
            "title": "Cleanup my_flag",
            "remove_source_branch": True,
        }
    )
    mr = as_alice.mergerequests.get(1)
    assert mr.user == {"can_merge": True}
    mr.merge(sha=cleanup.id)
    assert (mr.state, mr.merge_user["username"], mr.merged_by["username"]) == (
        "merged",
        "alice",
        "alice",
    )
    assert mr.merged_at is not None and mr.detailed_merge_status == "not_open"
    merge_commit = as_alice.commits.get(mr.merge_commit_sha)
    assert merge_commit.parent_ids == [main_before, cleanup.id]
    assert merge_commit.message == (
        "Merge branch 'cleanup' into 'main'\n\nCleanup my_flag\n\n"
        "See merge request gitlab-org/gitlab!1"
    )
    assert as_alice.commits.get("main").id == mr.merge_commit_sha
    assert world.fake.read_file(world.project, FLAG_YAML) is None
    assert world.fake.read_file(world.project, "CHANGELOG.md") == "- a\n"  # both sides kept
    assert [b.name for b in as_alice.branches.list()] == ["main"]  # source branch removed
    # the merged MR keeps its diff and commits
    assert [c.id for c in mr.commits()] == [cleanup.id]
    assert len(as_dict(mr.changes())["changes"]) == 2
    with pytest.raises(gitlab.GitlabMRClosedError) as caught:
        mr.merge()
    assert (caught.value.response_code, caught.value.error_message) == (
        405,
        "405 Method Not Allowed",
    )
    # auto_deploy status asks: is the cleanup commit in what main points at?
    assert as_dict(as_alice.repository_merge_base([cleanup.id, "main"]))["id"] == cleanup.id


def test_fast_forward_merge(world: World, project: GlProject, as_alice: GlProject) -> None:
    world.project.merge_method = "ff"
    cleanup = cleanup_branch(project)
    project.mergerequests.create(
        {"source_branch": "cleanup", "target_branch": "main", "title": "t"}
    )
    mr = as_alice.mergerequests.get(1)
    mr.merge()
    assert mr.state == "merged" and mr.merge_commit_sha is None
    assert as_alice.commits.get("main").id == cleanup.id
    # a source branch behind its target cannot be fast-forwarded
    project.commits.create(
        {
            "branch": "late",
            "start_branch": "main",
            "commit_message": "Late",
            "actions": [{"action": "create", "file_path": "late.txt", "content": "late\n"}],
        }
    )
    world.fake.seed_repository(world.project, {"CHANGELOG.md": "- b\n"})
    project.mergerequests.create({"source_branch": "late", "target_branch": "main", "title": "t"})
    late = as_alice.mergerequests.get(2)
    assert late.detailed_merge_status == "need_rebase"
    with pytest.raises(gitlab.GitlabMRClosedError) as caught:
        late.merge()
    assert (caught.value.response_code, caught.value.error_message) == (
        406,
        "Branch cannot be merged",
    )


def test_conflicts_and_drafts_cannot_be_merged(
    world: World, project: GlProject, as_alice: GlProject
) -> None:
    cleanup_branch(project)
    world.fake.commit_as(
        world.alice,
        world.project,
        "main",
        [{"action": "update", "file_path": "app/models/group_stage.py", "content": "y = 2\n"}],
        "Conflicting change",
    )
    project.mergerequests.create(
        {"source_branch": "cleanup", "target_branch": "main", "title": "t"}
    )
    mr = as_alice.mergerequests.get(1)
    assert (mr.merge_status, mr.detailed_merge_status, mr.has_conflicts) == (
        "cannot_be_merged",
        "conflict",
        True,
    )
    with pytest.raises(gitlab.GitlabMRClosedError) as caught:
        mr.merge()
    assert caught.value.response_code == 406
    project.branches.create({"branch": "wip", "ref": "main"})
    project.mergerequests.create(
        {"source_branch": "wip", "target_branch": "main", "title": "Draft: later"}
    )
    draft = as_alice.mergerequests.get(2)
    assert (draft.draft, draft.detailed_merge_status) == (True, "draft_status")
    with pytest.raises(gitlab.GitlabMRClosedError) as caught:
        draft.merge()
    assert caught.value.response_code == 405
    with pytest.raises(gitlab.GitlabMRClosedError) as caught:
        as_alice.mergerequests.get(1).merge(sha="0" * 40)
    assert caught.value.response_code == 406  # conflicts are checked before the sha


def check_merge_request_hook_contract(
    world: World, project: GlProject, shape: dict[str, Any]
) -> None:
    """Every Merge Request Hook carries the keys of `shape`, recursively, apart from
    `changes`, which holds exactly what the save changed (an edit's: at least `shape`'s)."""
    cleanup = cleanup_branch(project)
    mr = world.fake.create_merge_request_as(
        world.bot,
        world.project,
        "cleanup",
        "main",
        "Draft: Cleanup my_flag",
        labels=["API"],
        assignee_ids=[world.alice.id],
        reviewer_ids=[world.alice.id],
    )
    with client(world, world.alice) as alice:
        edited = alice.projects.get(world.project.id, lazy=True).mergerequests.get(mr.iid)
        edited.title = "Cleanup my_flag"
        edited.labels = ["Platform"]
        edited.save()
        edited.merge()

    deliveries = [d for d in world.fake.deliveries if d.event == "Merge Request Hook"]
    assert [d.payload["object_attributes"]["action"] for d in deliveries] == [
        "open",
        "update",
        "merge",
    ]
    for delivery in deliveries:
        payload = delivery.payload
        assert delivery.headers["X-Gitlab-Token"] == "s3cret"
        assert missing_keys({**shape, "changes": {}}, payload) == []
        assert set(payload["changes"]) <= MERGE_REQUEST_CHANGE_KEYS
        assert all(set(c) == {"previous", "current"} for c in payload["changes"].values())
    opened, updated, merged = (d.payload for d in deliveries)
    assert opened["object_attributes"]["last_commit"]["id"] == cleanup.id
    assert opened["object_attributes"]["draft"] is True
    assert opened["user"]["username"] == "rollout_bot"
    assert all(change["previous"] is None for change in opened["changes"].values())
    assert missing_keys(shape["changes"], updated["changes"]) == []
    assert updated["changes"]["draft"] == {"previous": True, "current": False}
    assert updated["user"]["username"] == "alice"
    assert merged["object_attributes"]["state"] == "merged"
    assert merged["changes"]["state_id"] == {"previous": 1, "current": 3}
    assert (
        merged["object_attributes"]["merge_commit_sha"]
        == world.fake.repository(world.project).branches["main"]
    )


def test_merge_request_hook_contract(world: World, project: GlProject) -> None:
    check_merge_request_hook_contract(world, project, fixture("webhooks/merge_request_hook.json"))


def test_merge_request_hooks_can_be_turned_off(world: World, project: GlProject) -> None:
    cleanup_branch(project)
    with HookReceiver() as issues_only:
        world.fake.add_hook(issues_only.url, merge_requests_events=False)
        project.mergerequests.create(
            {"source_branch": "cleanup", "target_branch": "main", "title": "t"}
        )
        assert issues_only.received == []
    assert [h.event for h in world.receiver.received] == ["Merge Request Hook"]


# -- deployments and environments -------------------------------------------------------------


def test_deployments_filtered_and_sorted(world: World, as_alice: GlProject) -> None:
    fake = world.fake
    first = fake.deploy(world.project, "production", world.initial)
    cleanup = cleanup_branch(as_alice)
    fake.deploy(world.project, "staging", "cleanup", user=world.bot)
    fake.deploy(world.project, "production", "cleanup", status="failed")
    fake.deploy(world.project, "production", "cleanup", status="running")

    everything = as_alice.deployments.list(get_all=True)
    assert [d.iid for d in everything] == [1, 2, 3, 4]
    assert [d.status for d in everything] == ["success", "success", "failed", "running"]
    done = as_alice.deployments.list(
        environment="production", status="success", order_by="finished_at", sort="desc"
    )
    assert [d.sha for d in done] == [world.initial]
    newest = as_alice.deployments.list(
        environment="production", order_by="finished_at", sort="desc"
    )
    assert newest[0].status == "running" and newest[0].finished_at is None  # nulls first
    paged = as_alice.deployments.list(per_page=3, page=2)
    assert [d.iid for d in paged] == [4]

    staging = as_alice.deployments.get(everything[1].id)
    assert (staging.ref, staging.sha, staging.user["username"]) == (
        "cleanup",
        cleanup.id,
        "rollout_bot",
    )
    assert staging.environment["name"] == "staging"
    assert staging.deployable["commit"]["id"] == cleanup.id
    assert staging.deployable["status"] == "success"
    assert first.finished_at is not None
    assert set(staging.attributes) >= {
        "id",
        "iid",
        "ref",
        "sha",
        "created_at",
        "updated_at",
        "finished_at",
        "status",
        "user",
        "environment",
        "deployable",
    }
    environments = {e.name: e for e in as_alice.environments.list(get_all=True)}
    assert {name: e.tier for name, e in environments.items()} == {
        "production": "production",
        "staging": "staging",
    }
    production = as_alice.environments.get(environments["production"].id)
    assert production.last_deployment["sha"] == world.initial


def test_deployments_api_create_and_update(world: World, project: GlProject) -> None:
    created = project.deployments.create(
        {
            "environment": "review/x",
            "sha": world.initial,
            "ref": "main",
            "tag": False,
            "status": "running",
        }
    )
    assert (created.status, created.deployable, created.finished_at) == ("running", None, None)
    dep = project.deployments.get(created.id)
    dep.status = "success"
    dep.save()
    assert project.deployments.get(created.id).finished_at is not None
    assert project.environments.list()[0].tier == "development"


# -- failure injection, the request log, access ----------------------------------------------


def test_failures_and_log_cover_the_new_routes(world: World, project: GlProject) -> None:
    world.fake.fail_next(1, status=500, method="POST", path=r"/repository/commits$")
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        cleanup_branch(project)
    assert caught.value.response_code == 500
    cleanup_branch(project)
    posts = world.fake.requests_to("POST", r"/repository/commits$")
    assert [r.status for r in posts] == [500, 201]
    assert posts[-1].json["actions"][0] == {"action": "delete", "file_path": FLAG_YAML}
    world.fake.fail_next(1, status=503, method="PUT", path=r"/merge_requests/\d+/merge$")
    project.mergerequests.create(
        {"source_branch": "cleanup", "target_branch": "main", "title": "t"}
    )
    with client(world, world.alice) as gl:
        mr = gl.projects.get(world.project.id, lazy=True).mergerequests.get(1)
        with pytest.raises(gitlab.GitlabMRClosedError) as merge_error:
            mr.merge()
        assert merge_error.value.response_code == 503
        mr.merge()
    assert world.fake.merge_request(world.project, 1).state == "merged"


def test_private_repository_is_hidden_from_outsiders(world: World) -> None:
    private = world.fake.create_project(
        world.fake.state.group("gitlab-org"), "secret", visibility="private"
    )
    world.fake.seed_repository(private, {"a.txt": "a\n"})
    with client(world, world.outsider) as gl:
        with pytest.raises(gitlab.GitlabGetError) as caught:
            gl.projects.get(private.id, lazy=True).files.raw("a.txt")
    assert caught.value.error_message == "404 Project Not Found"
