"""The fake GitLab, driven by python-gitlab over real HTTP on loopback.

Shapes are checked against this project's fixtures (tests/fixtures/gitlab/), which follow
GitLab's documented examples; ./scripts/conformance runs the same shape checks against the
documented examples themselves (conformance/test_gitlab_api.py, test_gitlab_webhooks.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gitlab
import pytest
import requests
from gitlab.v4.objects import Project as GlProject
from standardwebhooks import Webhook

from tests.fake_gitlab import (
    DEVELOPER,
    MAINTAINER,
    REPORTER,
    FakeGitLab,
    Group,
    HookReceiver,
    Project,
    User,
)
from tests.fake_gitlab.fixtures import fake_gitlab_fixture, hook_receiver_fixture  # noqa: F401
from tests.fixtures.gitlab import fixture

HOOK_TOKEN = "s3cret-token"
SIGNING_TOKEN = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TASKS_BEFORE = "## Rollout Steps\n\n- [ ] Enable on staging.\n    - [ ] `/chatops run x`\n"
TASKS_AFTER = TASKS_BEFORE.replace("    - [ ]", "    - [x]")
# Gitlab::HookData::IssueBuilder's safe attributes and relations: all `changes` may hold.
ISSUE_CHANGE_KEYS = {
    "assignee_id",
    "assignees",
    "author_id",
    "closed_at",
    "confidential",
    "created_at",
    "description",
    "discussion_locked",
    "due_date",
    "id",
    "iid",
    "labels",
    "last_edited_at",
    "last_edited_by_id",
    "milestone_id",
    "project_id",
    "relative_position",
    "state_id",
    "time_estimate",
    "title",
    "total_time_spent",
    "updated_at",
    "updated_by_id",
}


def error_body(exc: gitlab.GitlabError) -> Any:
    return json.loads(exc.response_body or b"null")


def missing_keys(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Keys of `expected` (recursively through objects) that `actual` lacks.

    Lists are not descended into; a null where the example has an object is
    accepted (GitLab sends null for an absent milestone, closer, creator...).
    """
    if not isinstance(expected, dict) or actual is None:
        return []
    if not isinstance(actual, dict):
        return [f"{path} is {type(actual).__name__}, not an object"]
    found: list[str] = []
    for key, value in expected.items():
        if key not in actual:
            found.append(f"{path}.{key}")
        else:
            found += missing_keys(value, actual[key], f"{path}.{key}")
    return found


@dataclass
class World:
    fake: FakeGitLab
    receiver: HookReceiver
    group: Group
    project: Project
    alice: User  # developer through the group, maintainer on the project
    bob: User  # reporter through the group
    bot: User  # the rollout bot, developer on the project
    outsider: User


def make_world(fake: FakeGitLab, hook_receiver: HookReceiver) -> World:
    """Users, a group and a project with members and a hook (for conformance/ as well)."""
    alice = fake.create_user("alice", name="Alice Liddell", public_email="alice@example.com")
    bob = fake.create_user("bob")
    bot = fake.create_user("rollout_bot", name="Rollout Bot")
    outsider = fake.create_user("mallory")
    group = fake.create_group("gitlab-org", name="GitLab.org")
    project = fake.create_project(group, "gitlab", name="GitLab", description="The app")
    fake.add_member(group, alice, DEVELOPER)
    fake.add_member(group, bob, REPORTER)
    fake.add_member(project, alice, MAINTAINER, by=bot)
    fake.add_member(project, bot, DEVELOPER)
    fake.add_hook(hook_receiver.url, token=HOOK_TOKEN)
    return World(fake, hook_receiver, group, project, alice, bob, bot, outsider)


@pytest.fixture
def world(fake_gitlab: FakeGitLab, hook_receiver: HookReceiver) -> World:
    return make_world(fake_gitlab, hook_receiver)


def client(fake: FakeGitLab, user: User | None, **options: Any) -> gitlab.Gitlab:
    return gitlab.Gitlab(fake.url, private_token=user.token if user else None, **options)


@pytest.fixture
def gl(world: World) -> Iterator[gitlab.Gitlab]:
    """python-gitlab as the bot."""
    with client(world.fake, world.bot) as session:
        yield session


@pytest.fixture
def project(gl: gitlab.Gitlab) -> GlProject:
    return gl.projects.get("gitlab-org/gitlab")


# -- auth, users, groups, projects ---------------------------------------------------------


def test_token_maps_to_its_user(world: World, gl: gitlab.Gitlab) -> None:
    gl.auth()
    assert gl.user is not None
    assert (gl.user.id, gl.user.username, gl.user.name) == (
        world.bot.id,
        "rollout_bot",
        "Rollout Bot",
    )
    assert world.fake.requests[-1].path == "/api/v4/user"
    assert world.fake.requests[-1].user_id == world.bot.id


@pytest.mark.parametrize("token", [None, "glpat-not-a-real-token"])
def test_missing_or_unknown_token_is_401(world: World, token: str | None) -> None:
    with gitlab.Gitlab(world.fake.url, private_token=token) as anonymous:
        with pytest.raises(gitlab.GitlabAuthenticationError) as caught:
            anonymous.projects.get(world.project.id)
    assert caught.value.response_code == 401
    assert error_body(caught.value) == {"message": "401 Unauthorized"}


def test_users_by_username_and_id(world: World, gl: gitlab.Gitlab) -> None:
    [alice] = gl.users.list(username="alice")
    assert (alice.id, alice.name, alice.state) == (world.alice.id, "Alice Liddell", "active")
    assert alice.web_url == f"{world.fake.url}/alice"
    assert alice.avatar_url.startswith("https://www.gravatar.com/avatar/")
    assert gl.users.list(username="nobody") == []
    assert gl.users.get(world.bob.id).username == "bob"
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl.users.get(999)
    assert (caught.value.response_code, caught.value.error_message) == (404, "404 User Not Found")


def test_project_by_encoded_path_and_by_id(world: World, gl: gitlab.Gitlab) -> None:
    by_path = gl.projects.get("gitlab-org/gitlab")
    by_id = gl.projects.get(world.project.id)
    assert by_path.id == by_id.id == world.project.id
    assert by_path.path_with_namespace == "gitlab-org/gitlab"
    assert by_path.web_url == f"{world.fake.url}/gitlab-org/gitlab"
    assert by_path.default_branch == "main"
    assert by_path.namespace == {
        "id": world.group.id,
        "name": "GitLab.org",
        "path": "gitlab-org",
        "kind": "group",
        "full_path": "gitlab-org",
        "parent_id": None,
        "avatar_url": None,
        "web_url": f"{world.fake.url}/groups/gitlab-org",
    }
    paths = [r.path for r in world.fake.requests]
    assert paths == ["/api/v4/projects/gitlab-org%2Fgitlab", f"/api/v4/projects/{world.project.id}"]


def test_groups_and_namespaces_by_path_and_id(world: World, gl: gitlab.Gitlab) -> None:
    sub = world.fake.create_group("delivery", parent=world.group)
    fake_project = world.fake.create_project(sub, "tools")
    assert gl.groups.get("gitlab-org").full_path == "gitlab-org"
    nested = gl.groups.get("gitlab-org/delivery")
    assert (nested.id, nested.full_path, nested.parent_id) == (
        sub.id,
        "gitlab-org/delivery",
        world.group.id,
    )
    assert gl.projects.get("gitlab-org/delivery/tools").id == fake_project.id
    assert gl.namespaces.get("gitlab-org/delivery").id == sub.id
    assert gl.namespaces.get(sub.id).kind == "group"
    personal = gl.namespaces.get("alice")
    assert (personal.kind, personal.id) == ("user", world.alice.namespace_id)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda gl: gl.projects.get("gitlab-org/nope"), "404 Project Not Found"),
        (lambda gl: gl.projects.get(999), "404 Project Not Found"),
        (lambda gl: gl.groups.get("nope"), "404 Group Not Found"),
        (lambda gl: gl.namespaces.get("nope"), "404 Namespace Not Found"),
        (lambda gl: gl.projects.get(1, lazy=True).issues.get(42), "404 Not found"),
    ],
)
def test_not_found_messages(gl: gitlab.Gitlab, call: Any, message: str) -> None:
    with pytest.raises(gitlab.GitlabGetError) as caught:
        call(gl)
    assert (caught.value.response_code, caught.value.error_message) == (404, message)


def test_unknown_route_is_404_error(gl: gitlab.Gitlab) -> None:
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl.http_get("/no/such/route")
    assert error_body(caught.value) == {"error": "404 Not Found"}


def test_private_project_is_not_found_for_non_members(world: World) -> None:
    world.fake.create_project(world.group, "secret", visibility="private")
    with client(world.fake, world.outsider) as outsider, client(world.fake, world.alice) as alice:
        with pytest.raises(gitlab.GitlabGetError) as caught:
            outsider.projects.get("gitlab-org/secret")
        assert caught.value.error_message == "404 Project Not Found"
        assert alice.projects.get("gitlab-org/secret").visibility == "private"  # inherited


# -- members --------------------------------------------------------------------------


def test_members_all_includes_inherited_and_highest_level_wins(
    world: World, project: GlProject
) -> None:
    alice = project.members_all.get(world.alice.id)
    assert alice.access_level == MAINTAINER  # project 40 beats group 30
    assert alice.created_by["username"] == "rollout_bot"
    assert project.members_all.get(world.bob.id).access_level == REPORTER  # from the group
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.members_all.get(world.outsider.id)
    assert (caught.value.response_code, caught.value.error_message) == (404, "404 Not found")
    listed = {m.username: m.access_level for m in project.members_all.list(get_all=True)}
    assert listed == {"alice": MAINTAINER, "bob": REPORTER, "rollout_bot": DEVELOPER}


def test_members_inherit_from_ancestor_groups(world: World, gl: gitlab.Gitlab) -> None:
    sub = world.fake.create_group("delivery", parent=world.group)
    world.fake.create_project(sub, "tools")
    member = gl.projects.get("gitlab-org/delivery/tools").members_all.get(world.bob.id)
    assert member.access_level == REPORTER
    assert gl.groups.get(sub.id).members_all.get(world.alice.id).access_level == DEVELOPER


def test_member_has_the_fixtures_keys(world: World, project: GlProject) -> None:
    member = project.members_all.get(world.alice.id).asdict()
    assert missing_keys(fixture("api/project_member_all.json"), member) == []


# -- issues ----------------------------------------------------------------------------


def test_issue_create_get_and_save(world: World, project: GlProject) -> None:
    issue = project.issues.create(
        {"title": "Rollout", "description": TASKS_BEFORE, "labels": ["feature flag", "rollout"]}
    )
    assert (issue.iid, issue.state, issue.labels) == (1, "opened", ["feature flag", "rollout"])
    assert issue.author["username"] == "rollout_bot"
    assert issue.references["full"] == "gitlab-org/gitlab#1"
    assert issue.web_url == f"{world.fake.url}/gitlab-org/gitlab/-/issues/1"
    assert issue.task_completion_status == {"count": 2, "completed_count": 0}
    created_at = issue.updated_at

    issue.description = TASKS_AFTER
    issue.save()
    again = project.issues.get(1)
    assert again.description == TASKS_AFTER
    assert again.updated_at > created_at
    assert again.task_completion_status == {"count": 2, "completed_count": 1}
    assert world.fake.requests[-2].json["description"] == TASKS_AFTER

    again.state_event = "close"
    again.save()
    # `closed_by` is also a python-gitlab method name: read the attribute from the dict.
    assert (again.state, again.asdict()["closed_by"]["username"]) == ("closed", "rollout_bot")
    assert again.closed_at is not None
    again.state_event = "reopen"
    again.save()
    assert (again.state, again.closed_at, again.asdict()["closed_by"]) == ("opened", None, None)


def test_issue_has_the_fixtures_keys(project: GlProject) -> None:
    issue = project.issues.create({"title": "Shape"})
    assert missing_keys(fixture("api/project_issue.json"), issue.asdict()) == []
    assert issue.created_at.endswith("Z") and "T" in issue.created_at


def test_issue_validation_errors(gl: gitlab.Gitlab, project: GlProject) -> None:
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl.http_post(f"/projects/{project.id}/issues", post_data={"description": "no title"})
    assert (caught.value.response_code, caught.value.error_message) == (400, "title is missing")
    with pytest.raises(gitlab.GitlabCreateError) as blank:
        project.issues.create({"title": " "})
    assert error_body(blank.value) == {"message": {"title": ["can't be blank"]}}
    issue = project.issues.create({"title": "t"})
    with pytest.raises(gitlab.GitlabUpdateError) as bad_event:
        project.issues.update(issue.iid, {"state_event": "explode"})
    assert bad_event.value.error_message == "state_event does not have a valid value"


def test_issue_list_filters(world: World, project: GlProject) -> None:
    project.issues.create({"title": "Rollout of flag_a", "labels": "rollout"})
    project.issues.create({"title": "Cleanup flag_a", "labels": "rollout,cleanup"})
    closed = project.issues.create({"title": "Old", "description": "flag_b history"})
    closed.state_event = "close"
    closed.save()

    def titles(**filters: Any) -> list[str]:
        return [i.title for i in project.issues.list(get_all=True, **filters)]

    assert titles() == ["Old", "Cleanup flag_a", "Rollout of flag_a"]  # newest first
    assert titles(state="opened", sort="asc") == ["Rollout of flag_a", "Cleanup flag_a"]
    assert titles(state="closed") == ["Old"]
    assert titles(search="flag_b") == ["Old"]
    assert titles(labels="rollout,cleanup") == ["Cleanup flag_a"]
    assert titles(labels="None") == ["Old"]
    assert titles(order_by="updated_at") == ["Old", "Cleanup flag_a", "Rollout of flag_a"]


def test_issue_list_pagination(world: World, project: GlProject) -> None:
    for number in range(25):
        world.fake.create_issue_as(world.bot, world.project, f"Issue {number}")
    assert len(project.issues.list(get_all=True, per_page=10)) == 25
    pages = [r.query.get("page") for r in world.fake.requests_to("GET", r"/issues$")]
    assert pages == [None, "2", "3"]  # the Link header was followed

    page_two = project.issues.list(page=2, per_page=10, sort="asc")
    assert [i.iid for i in page_two] == list(range(11, 21))
    listing = project.issues.list(iterator=True, per_page=10)
    assert (listing.current_page, listing.prev_page, listing.next_page) == (1, None, 2)
    assert (listing.per_page, listing.total, listing.total_pages) == (10, 25, 3)

    raw = project.manager.gitlab.http_get(
        f"/projects/{project.id}/issues", query_data={"page": 3, "per_page": 10}, raw=True
    )
    assert isinstance(raw, requests.Response)
    assert len(raw.json()) == 5
    assert {k: raw.headers[k] for k in ("X-Page", "X-Next-Page", "X-Prev-Page", "X-Total")} == {
        "X-Page": "3",
        "X-Next-Page": "",
        "X-Prev-Page": "2",
        "X-Total": "25",
    }
    assert set(raw.links) == {"prev", "first", "last"}
    assert raw.links["first"]["url"].startswith(f"{world.fake.url}/api/v4/projects/")

    with pytest.warns(UserWarning, match="will return a maximum of 20 items"):
        assert len(project.issues.list()) == 20


# -- notes ----------------------------------------------------------------------------


def test_notes_create_list_get_and_edit(world: World, project: GlProject) -> None:
    issue = project.issues.create({"title": "Rollout"})
    for number in range(5):
        issue.notes.create({"body": f"comment {number}"})
    newest_first = [n.body for n in issue.notes.list(get_all=True, per_page=2)]
    assert newest_first == [f"comment {n}" for n in reversed(range(5))]
    oldest_first = issue.notes.list(get_all=True, sort="asc", order_by="created_at")
    assert [n.body for n in oldest_first] == [f"comment {n}" for n in range(5)]

    note = issue.notes.get(oldest_first[0].id)
    assert (note.noteable_type, note.noteable_iid, note.system) == ("Issue", issue.iid, False)
    note.body = "edited"
    note.save()
    assert issue.notes.get(note.id).body == "edited"
    assert issue.notes.get(note.id).updated_at > note.created_at
    assert project.issues.get(issue.iid).user_notes_count == 5


def test_note_has_the_fixtures_keys(project: GlProject) -> None:
    note = project.issues.create({"title": "t"}).notes.create({"body": "hello"}).asdict()
    assert missing_keys(fixture("api/issue_note.json"), note) == []
    for listed in fixture("api/issue_notes.json"):
        assert missing_keys(listed, note) == []


def test_only_the_author_may_edit_a_note(world: World, project: GlProject) -> None:
    note = project.issues.create({"title": "t"}).notes.create({"body": "mine"})
    with client(world.fake, world.alice) as alice:
        theirs = alice.projects.get(world.project.id, lazy=True).issues.get(1).notes.get(note.id)
        theirs.body = "not yours"
        with pytest.raises(gitlab.GitlabUpdateError) as caught:
            theirs.save()
    assert (caught.value.response_code, caught.value.error_message) == (403, "403 Forbidden")


# -- webhooks -------------------------------------------------------------------------


def test_issue_update_delivers_issue_hook_with_real_headers(
    world: World, project: GlProject
) -> None:
    issue = project.issues.create({"title": "Rollout", "description": TASKS_BEFORE})
    issue.description = TASKS_AFTER
    issue.save()

    opened, updated = world.fake.deliveries
    assert [d.status_code for d in world.fake.deliveries] == [200, 200]
    received = world.receiver.received[1]
    assert received.body == updated.body
    headers = received.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Gitlab-Event"] == "Issue Hook"
    assert headers["X-Gitlab-Token"] == HOOK_TOKEN
    assert headers["User-Agent"] == f"GitLab/{world.fake.version}"
    assert headers["X-Gitlab-Instance"] == world.fake.url
    assert headers["X-Gitlab-Webhook-UUID"] == world.fake.hooks[0].uuid
    assert headers["X-Gitlab-Event-UUID"] == updated.event_uuid != opened.event_uuid
    assert headers["Idempotency-Key"] == updated.idempotency_key != opened.idempotency_key
    assert "webhook-signature" not in headers

    payload = received.payload
    assert (payload["object_kind"], payload["event_type"]) == ("issue", "issue")
    assert payload["user"]["username"] == "rollout_bot"
    assert payload["user"]["email"] == "[REDACTED]"
    attributes = payload["object_attributes"]
    assert (attributes["action"], attributes["iid"], attributes["state"]) == ("update", 1, "opened")
    assert attributes["description"] == TASKS_AFTER
    assert payload["changes"]["description"] == {"previous": TASKS_BEFORE, "current": TASKS_AFTER}
    assert payload["changes"]["updated_at"]["current"] == attributes["updated_at"]
    assert attributes["updated_at"].endswith(" UTC")
    assert opened.payload["object_attributes"]["action"] == "open"


def test_close_and_reopen_actions(world: World, project: GlProject) -> None:
    issue = project.issues.create({"title": "t"})
    issue.state_event = "close"
    issue.save()
    issue.state_event = "reopen"
    issue.save()
    actions = [d.payload["object_attributes"]["action"] for d in world.fake.deliveries]
    assert actions == ["open", "close", "reopen"]
    closing = world.fake.deliveries[1].payload["changes"]
    assert closing["state_id"] == {"previous": 1, "current": 2}
    assert closing["closed_at"]["previous"] is None


def test_saving_without_a_change_sends_nothing(world: World, project: GlProject) -> None:
    issue = project.issues.create({"title": "t", "description": "same"})
    project.issues.update(issue.iid, {"description": "same"})
    assert len(world.fake.deliveries) == 1


def test_edit_issue_as_a_person_ticking_a_box(world: World, project: GlProject) -> None:
    project.issues.create({"title": "Rollout", "description": TASKS_BEFORE})
    [delivery] = world.fake.edit_issue_as(
        world.alice, "gitlab-org/gitlab", 1, description=TASKS_AFTER
    )
    assert delivery.status_code == 200
    assert world.receiver.received[-1].body == delivery.body
    payload = delivery.payload
    assert payload["user"] == {
        "id": world.alice.id,
        "name": "Alice Liddell",
        "username": "alice",
        "avatar_url": payload["user"]["avatar_url"],
        "email": "alice@example.com",
    }
    assert payload["object_attributes"]["last_edited_by_id"] == world.alice.id
    assert payload["changes"]["last_edited_by_id"] == {"previous": None, "current": world.alice.id}
    assert payload["changes"]["updated_by_id"] == {"previous": None, "current": world.alice.id}
    assert project.issues.get(1).description == TASKS_AFTER


def test_redeliver_resends_same_bytes_and_idempotency_key(world: World) -> None:
    world.fake.create_issue_as(world.alice, world.project, "Rollout", description=TASKS_BEFORE)
    [first] = world.fake.edit_issue_as(world.alice, world.project, 1, description=TASKS_AFTER)
    again = world.fake.redeliver(first.id)
    assert again.id != first.id and again.redelivery_of == first.id
    assert again.body == first.body
    assert again.headers == first.headers
    original, resent = world.receiver.received[-2:]
    assert resent.body == original.body
    assert resent.headers["Idempotency-Key"] == original.headers["Idempotency-Key"]


def test_note_delivers_note_hook(world: World, project: GlProject) -> None:
    issue = project.issues.create({"title": "Rollout"})
    note = issue.notes.create({"body": "/chatops run feature get my_flag"})
    delivery = world.fake.deliveries[-1]
    assert delivery.headers["X-Gitlab-Event"] == "Note Hook"
    payload = delivery.payload
    assert (payload["object_kind"], payload["event_type"]) == ("note", "note")
    attributes = payload["object_attributes"]
    assert (attributes["noteable_type"], attributes["action"]) == ("Issue", "create")
    assert (attributes["id"], attributes["note"]) == (note.id, "/chatops run feature get my_flag")
    assert attributes["url"] == f"{issue.web_url}#note_{note.id}"
    assert (payload["issue"]["iid"], payload["issue"]["id"]) == (issue.iid, issue.id)
    note.body = "/chatops run feature get other_flag"
    note.save()
    assert world.fake.deliveries[-1].payload["object_attributes"]["action"] == "update"


def check_issue_hook_contract(
    world: World,
    project: GlProject,
    shape: dict[str, Any],
    relabel_changes: dict[str, Any],
    tick_changes: dict[str, Any],
) -> None:
    """Every Issue Hook carries the keys of `shape`, recursively, apart from `changes`,
    which GitLab fills with exactly the columns a save changed: a relabelling's and a
    ticked box's hold at least the keys of `relabel_changes` and `tick_changes`."""
    issue = project.issues.create(
        {"title": "Rollout", "description": TASKS_BEFORE, "assignee_ids": [world.alice.id]}
    )
    with client(world.fake, world.alice) as alice:
        as_alice = alice.projects.get(world.project.id, lazy=True).issues.get(issue.iid)
        as_alice.labels = ["rollout"]  # first edit by alice, labels changed
        as_alice.save()
    world.fake.edit_issue_as(world.alice, world.project, 1, description=TASKS_AFTER)
    world.fake.edit_issue_as(world.bob, world.project, 1, state_event="close")

    deliveries = [d for d in world.fake.deliveries if d.event == "Issue Hook"]
    assert [d.payload["object_attributes"]["action"] for d in deliveries] == [
        "open",
        "update",
        "update",
        "close",
    ]
    for delivery in deliveries:
        payload = delivery.payload
        assert missing_keys({**shape, "changes": {}}, payload) == []
        for key, change in payload["changes"].items():
            assert key in ISSUE_CHANGE_KEYS
            assert set(change) == {"previous", "current"}
    opened, relabelled, tick, close = (d.payload["changes"] for d in deliveries)
    assert set(opened) >= {"author_id", "created_at", "description", "id", "iid", "title"}
    assert all(change["previous"] is None for change in opened.values())
    assert missing_keys(relabel_changes, relabelled) == []
    assert missing_keys(tick_changes, tick) == []
    assert "labels" not in tick  # unchanged labels are not reported
    assert set(close) == {"closed_at", "state_id", "updated_at", "updated_by_id"}


def test_issue_hook_contract(world: World, project: GlProject) -> None:
    check_issue_hook_contract(
        world,
        project,
        fixture("webhooks/issue_hook.json"),
        fixture("webhooks/issue_hook_relabelled.json")["changes"],
        fixture("webhooks/issue_hook_task_ticked.json")["changes"],
    )


def test_unassigned_issue_hook_has_no_assignees_key(world: World) -> None:
    world.fake.create_issue_as(world.alice, world.project, "Nobody's")
    payload = world.fake.deliveries[-1].payload
    assert "assignees" not in payload and "assignee" not in payload  # as GitLab builds it


def check_note_hook_contract(world: World, project: GlProject, shape: dict[str, Any]) -> None:
    """Every Note Hook on an issue (created, edited, by anyone) carries the keys of `shape`."""
    issue = project.issues.create({"title": "Rollout", "labels": "rollout"})
    note = issue.notes.create({"body": "first"})
    note.body = "second"
    note.save()
    world.fake.add_note_as(world.alice, world.project, issue.iid, "third")
    notes = [d for d in world.fake.deliveries if d.event == "Note Hook"]
    assert len(notes) == 3
    for delivery in notes:
        assert missing_keys(shape, delivery.payload) == []


@pytest.mark.parametrize(
    "name",
    [
        "note_hook_issue.json",
        "note_hook_issue_chatops.json",
        "confidential_note_hook_issue.json",
    ],
)
def test_note_hook_contract(world: World, project: GlProject, name: str) -> None:
    check_note_hook_contract(world, project, fixture(f"webhooks/{name}"))


def test_recursion_detection_blocks_the_bots_own_edit(world: World, project: GlProject) -> None:
    project.issues.create({"title": "Rollout", "description": TASKS_BEFORE})
    [tick] = world.fake.edit_issue_as(world.alice, world.project, 1, description=TASKS_AFTER)
    sent = len(world.fake.deliveries)

    # The bot answers the delivery and passes its event UUID back, as GitLab asks.
    issue = project.issues.get(1)
    issue.description = TASKS_BEFORE
    issue.save(extra_headers={"X-Gitlab-Event-UUID": tick.event_uuid})
    issue.notes.create({"body": "Refused"}, extra_headers={"X-Gitlab-Event-UUID": tick.event_uuid})

    put = world.fake.requests_to("PUT", r"/issues/1$")[-1]
    assert put.event_uuid == tick.event_uuid
    assert len(world.fake.deliveries) == sent  # nothing delivered
    blocked = world.fake.blocked_deliveries
    assert [(b.event, b.event_uuid, b.reason) for b in blocked] == [
        ("Issue Hook", tick.event_uuid, "recursion"),
        ("Note Hook", tick.event_uuid, "recursion"),
    ]
    assert project.issues.get(1).description == TASKS_BEFORE  # the edit itself is saved

    issue.description = TASKS_AFTER
    issue.save()  # no event UUID: an ordinary edit, delivered
    assert len(world.fake.deliveries) == sent + 1


def test_standard_webhooks_signature(world: World, hook_receiver: HookReceiver) -> None:
    world.fake.add_hook(hook_receiver.url, token=HOOK_TOKEN, signing_token=SIGNING_TOKEN)
    world.fake.create_issue_as(world.alice, world.project, "Signed & <escaped>")
    unsigned, signed = hook_receiver.received
    assert "webhook-signature" not in unsigned.headers
    assert signed.headers["webhook-id"] == signed.headers["Idempotency-Key"]
    verified = Webhook(SIGNING_TOKEN).verify(signed.body, dict(signed.headers))
    assert verified["object_attributes"]["title"] == "Signed & <escaped>"
    assert b"Signed \\u0026 \\u003cescaped\\u003e" in signed.body  # ActiveSupport's escaping

    again = world.fake.redeliver(world.fake.deliveries[-1].id)
    resent = hook_receiver.received[-1]
    assert resent.headers["webhook-id"] == signed.headers["webhook-id"]
    assert resent.body == signed.body
    assert Webhook(SIGNING_TOKEN).verify(resent.body, dict(resent.headers)) == verified
    assert again.status_code == 200


def test_receiver_status_and_unreachable_hooks_are_recorded(world: World) -> None:
    world.receiver.status = 500
    world.fake.add_hook("http://127.0.0.1:9/webhook")  # discard port: connection refused
    world.fake.create_issue_as(world.alice, world.project, "t")
    failing, unreachable = world.fake.deliveries
    assert (failing.status_code, failing.error) == (500, None)
    assert unreachable.status_code is None and unreachable.error is not None


def test_hook_is_disabled_after_four_failures_in_a_row(world: World) -> None:
    world.receiver.status = 400
    for number in range(5):
        world.fake.create_issue_as(world.alice, world.project, f"t{number}")
    assert [d.status_code for d in world.fake.deliveries] == [400] * 4
    assert world.fake.hooks[0].disabled
    assert [b.reason for b in world.fake.blocked_deliveries] == ["disabled"]

    world.receiver.status = 202
    assert world.fake.redeliver(world.fake.deliveries[-1].id).status_code == 202  # manual resend
    assert not world.fake.hooks[0].disabled
    world.fake.create_issue_as(world.alice, world.project, "after")
    assert world.fake.deliveries[-1].status_code == 202


def test_hooks_scoped_to_a_project_and_event_kind(
    world: World, hook_receiver: HookReceiver
) -> None:
    other = world.fake.create_project(world.group, "other")
    with HookReceiver() as notes_only:
        world.fake.add_hook(notes_only.url, project=other, issues_events=False)
        world.fake.create_issue_as(world.alice, other, "t")
        world.fake.add_note_as(world.alice, other, 1, "n")
        world.fake.create_issue_as(world.alice, world.project, "t")
        assert [h.event for h in notes_only.received] == ["Note Hook"]
    assert [h.event for h in hook_receiver.received] == ["Issue Hook", "Note Hook", "Issue Hook"]


def test_background_deliveries(hook_receiver: HookReceiver) -> None:
    with FakeGitLab(background_deliveries=True) as fake:
        alice = fake.create_user("alice")
        project = fake.create_project(alice, "sandbox")
        fake.add_hook(hook_receiver.url)
        with client(fake, alice) as gl:
            issue = gl.projects.get("alice/sandbox").issues.create({"title": "t"})
            issue.description = "changed"
            issue.save()
        deliveries = fake.wait_for_deliveries(timeout=5)
        assert [d.status_code for d in deliveries] == [200, 200]
        assert [h.payload["object_attributes"]["action"] for h in hook_receiver.received] == [
            "open",
            "update",
        ]
        assert project.issues[1].description == "changed"


# -- failure injection and the request log --------------------------------------------------


def test_injected_500_is_an_error_without_retries(world: World, gl: gitlab.Gitlab) -> None:
    world.fake.fail_next(1, status=500)
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl.projects.get(world.project.id)
    assert (caught.value.response_code, caught.value.error_message) == (
        500,
        "500 Internal Server Error",
    )
    assert gl.projects.get(world.project.id).id == world.project.id  # only one failed


def test_injected_5xx_are_retried_with_retry_transient_errors(world: World) -> None:
    world.fake.fail_next(2, status=502)
    with client(world.fake, world.bot, retry_transient_errors=True) as gl:
        assert gl.projects.get(world.project.id).id == world.project.id
    assert [r.status for r in world.fake.requests] == [502, 502, 200]


def test_429_is_retried_after_retry_after_by_default(world: World, gl: gitlab.Gitlab) -> None:
    # python-gitlab obeys 429 (obey_rate_limit=True) whatever retry_transient_errors says.
    world.fake.fail_next(1, status=429, retry_after=1)
    started = time.monotonic()
    assert gl.projects.get(world.project.id).id == world.project.id
    assert time.monotonic() - started >= 1
    assert [r.status for r in world.fake.requests] == [429, 200]


def test_429_is_an_error_when_not_obeying_rate_limits(world: World, gl: gitlab.Gitlab) -> None:
    world.fake.fail_next(1, status=429, retry_after=1)
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl.projects.get(world.project.id, obey_rate_limit=False)
    assert caught.value.response_code == 429
    assert caught.value.response_body == b"Retry later\n"


def test_failures_filtered_by_method_and_path(world: World, project: GlProject) -> None:
    issue = project.issues.create({"title": "t"})
    world.fake.fail_next(1, status=503, method="PUT", path=r"/issues/\d+$")
    assert project.issues.get(issue.iid).title == "t"  # a GET: not affected
    issue.title = "new"
    with pytest.raises(gitlab.GitlabUpdateError) as caught:
        issue.save()
    assert caught.value.response_code == 503
    issue.save()
    assert project.issues.get(issue.iid).title == "new"


def test_delay_slows_the_next_requests(world: World, gl: gitlab.Gitlab) -> None:
    world.fake.delay(0.3, 1)
    started = time.monotonic()
    gl.projects.get(world.project.id)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    gl.projects.get(world.project.id)
    assert time.monotonic() - started < 0.3


def test_delay_past_the_client_timeout(world: World) -> None:
    world.fake.delay(0.5, 1)
    with client(world.fake, world.bot, timeout=0.1) as gl:
        with pytest.raises(requests.exceptions.Timeout):
            gl.projects.get(world.project.id)


def test_clearing_faults_releases_held_requests(world: World, gl: gitlab.Gitlab) -> None:
    world.fake.delay(30, 1)
    timer = threading.Timer(0.2, world.fake.faults.clear)
    timer.start()
    started = time.monotonic()
    assert gl.projects.get(world.project.id).id == world.project.id
    assert time.monotonic() - started < 5
    timer.join()


def test_request_log(world: World, project: GlProject) -> None:
    project.issues.create({"title": "t", "labels": ["a", "b"]})
    created = world.fake.requests[-1]
    assert (created.method, created.path, created.status) == (
        "POST",
        f"/api/v4/projects/{world.project.id}/issues",
        201,
    )
    assert created.json == {"title": "t", "labels": ["a", "b"]}
    assert created.headers["PRIVATE-TOKEN"] == world.bot.token
    assert created.headers["User-Agent"].startswith("python-gitlab/")
    assert created.event_uuid is None


def test_concurrent_edits_are_all_saved(world: World, project: GlProject) -> None:
    project.issues.create({"title": "t"})

    def comment(number: int) -> None:
        with client(world.fake, world.bot) as gl:
            gl.projects.get(world.project.id, lazy=True).issues.get(1).notes.create(
                {"body": f"n{number}"}
            )

    threads = [threading.Thread(target=comment, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notes = project.issues.get(1).notes.list(get_all=True)
    assert sorted(n.body for n in notes) == [f"n{n}" for n in range(8)]
    assert len({n.id for n in notes}) == 8


# -- features API ------------------------------------------------------------------------


def test_features_api(world: World) -> None:
    admin = world.fake.create_user("root", admin=True)
    world.fake.define_feature("my_flag", type="gitlab_com_derisk", group="group::ci")
    with client(world.fake, admin) as gl:
        feature = gl.features.set("my_flag", 30)
        assert (feature.state, feature.gates) == (
            "conditional",
            [{"key": "boolean", "value": False}, {"key": "percentage_of_time", "value": 30}],
        )
        assert missing_keys(fixture("api/feature_set.json"), feature.asdict()) == []
        gl.features.set("my_flag", True, user="alice")
        listed = {f.name: f for f in gl.features.list()}
        assert {"key": "actors", "value": [f"User:{world.alice.id}"]} in listed["my_flag"].gates
        on = gl.features.set("my_flag", True)
        assert (on.state, on.gates) == ("on", [{"key": "boolean", "value": True}])
        actors = gl.features.set("other_flag", 42, key="percentage_of_actors")
        assert actors.gates[-1] == {"key": "percentage_of_actors", "value": 42}
        assert actors.definition is None
        gl.features.delete("other_flag")
        assert [f.name for f in gl.features.list()] == ["my_flag"]
    with client(world.fake, world.alice) as gl, pytest.raises(gitlab.GitlabListError) as caught:
        gl.features.list()
    assert caught.value.response_code == 403
