"""The fake GitLab's REST responses against GitLab's documented examples, and our API
fixtures against the examples they stand in for.

The examples are in ../shared/data/gitlab/api/ (see its README), read at test time. The
test suite checks the fake against our fixtures (tests/test_fake_gitlab.py); this checks
it against the documentation itself, with the same `missing_keys`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from gitlab.v4.objects import Project as GlProject

from conformance.conftest import API_EXAMPLES, GITLAB_DATA
from tests.fake_gitlab import FakeGitLab, HookReceiver
from tests.fixtures.gitlab import API, STANDS_FOR, fixture, shape_differences
from tests.test_fake_gitlab import World, client, make_world, missing_keys


def example(name: str) -> Any:
    return json.loads((API_EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def world(fake_gitlab: FakeGitLab, hook_receiver: HookReceiver) -> World:
    return make_world(fake_gitlab, hook_receiver)


@pytest.fixture
def project(world: World) -> Iterator[GlProject]:
    """python-gitlab as the bot."""
    with client(world.fake, world.bot) as gl:
        yield gl.projects.get("gitlab-org/gitlab")


# --- the fake GitLab's responses have the documented keys -------------------------------


def test_member_matches_documented_example(world: World, project: GlProject) -> None:
    member = project.members_all.get(world.alice.id).asdict()
    assert missing_keys(example("project_member_all.json"), member) == []


def test_issue_matches_documented_example(project: GlProject) -> None:
    issue = project.issues.create({"title": "Shape"})
    assert missing_keys(example("project_issue.json"), issue.asdict()) == []
    assert issue.created_at.endswith("Z") and "T" in issue.created_at


def test_note_matches_documented_examples(project: GlProject) -> None:
    note = project.issues.create({"title": "t"}).notes.create({"body": "hello"}).asdict()
    assert missing_keys(example("issue_note.json"), note) == []
    for documented in example("issue_notes.json"):
        assert missing_keys(documented, note) == []


def test_feature_set_matches_documented_example(world: World) -> None:
    admin = world.fake.create_user("root", admin=True)
    world.fake.define_feature("my_flag", type="gitlab_com_derisk", group="group::ci")
    with client(world.fake, admin) as gl:
        feature = gl.features.set("my_flag", 30)
    assert missing_keys(example("feature_set.json"), feature.asdict()) == []


# --- our fixtures have the documented shapes --------------------------------------------

FIXTURES = sorted(name for name in STANDS_FOR if name.startswith("api/"))


def test_every_fixture_stands_for_a_documented_example() -> None:
    assert FIXTURES == sorted(f"api/{path.name}" for path in API.glob("*.json"))
    assert all((GITLAB_DATA / STANDS_FOR[name]).is_file() for name in FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_has_the_documented_shape(name: str) -> None:
    documented = json.loads((GITLAB_DATA / STANDS_FOR[name]).read_text(encoding="utf-8"))
    assert shape_differences(documented, fixture(name)) == []


def test_shape_check_catches_drift() -> None:
    member = example("project_member_all.json")
    assert shape_differences(member, {**member, "access_level": "developer"}) == [
        "$.access_level is string, documented as integer"
    ]
    assert shape_differences(member, {**member, "is_using_seat": True}) == [
        "$.is_using_seat is not in the documented example"
    ]
    notes = example("issue_notes.json")
    assert shape_differences(notes, [{**notes[0], "system": "yes"}]) == [
        "$[0].system is string, documented as boolean"
    ]
    assert shape_differences(notes, notes) == []
