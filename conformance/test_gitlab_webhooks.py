"""Our webhook handling against GitLab's documented payloads and headers, and our
fixtures against the documented examples they stand in for.

The payloads are the documented examples in ../shared/data/gitlab/webhooks/ (see its
README), read at test time; the headers are the ones that README documents. The checks
are the test suite's own (tests/test_events.py, tests/test_fake_gitlab*.py), run here on
the documented examples instead of our fixtures.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import gitlab
import pytest
from gitlab.v4.objects import Project as GlProject
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.conftest import GITLAB_DATA, WEBHOOK_PAYLOADS
from tests import test_fake_gitlab, test_fake_gitlab_repository
from tests.fake_gitlab import FakeGitLab, HookReceiver
from tests.fixtures.gitlab import (
    STANDS_FOR,
    WEBHOOKS,
    Deliveries,
    fixture,
    hook_shape_differences,
)
from tests.test_events import (
    COMMAND,
    NOTE,
    TICKED_NAME,
    _with,
    break_and_exercise,
    check_accepts_the_delivery,
    check_accepts_the_payload,
    check_accessors,
    check_asks_whether_it_is_a_rollout_issue,
    check_classify,
    check_does_not_ask_about_events_it_ignores,
    check_note_project_id_fallback,
    check_null_description_side_reads_as_empty,
    check_ticked_box_is_queued,
    classify_cases,
)

# X-Gitlab-Event per payload file, as the README (from webhook_events.md) gives them.
KIND_OF = {
    "issue_hook.json": "Issue Hook",
    "issue_hook_task_ticked.json": "Issue Hook",
    "note_hook_issue.json": "Note Hook",
    "merge_request_hook.json": "Merge Request Hook",
    "pipeline_hook.json": "Pipeline Hook",
}
DOC_HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "GitLab/15.5.0-pre",
    "X-Gitlab-Token": "my-secret-token",
    "X-Gitlab-Instance": "https://gitlab.com",
    "X-Gitlab-Webhook-UUID": "02affd2d-2cba-4033-917d-ec22d5dc4b38",
    "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
    "Idempotency-Key": "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
}
DOCUMENTED = Deliveries(folder=WEBHOOK_PAYLOADS, kind_of=KIND_OF, headers=DOC_HEADERS)

TICKED = DOCUMENTED.payload(TICKED_NAME)["changes"]["description"]
ACCESSORS = {
    "issue_hook.json": {
        "object_kind": "issue",
        "project_id": 1,
        "project_path": "gitlabhq/gitlab-test",
        "user_id": 1,
        "username": "root",
        "issue_iid": 23,
        "action": "open",
        "description_change": None,
        "note_body": None,
        "chatops_command": None,
        "is_issue_update": False,
        "is_issue_note": False,
        "is_system_note": False,
    },
    "issue_hook_task_ticked.json": {
        "object_kind": "issue",
        "project_id": 1,
        "project_path": "gitlabhq/gitlab-test",
        "user_id": 1,
        "username": "root",
        "issue_iid": 23,
        "action": "update",
        "description_change": (TICKED["previous"], TICKED["current"]),
        "note_body": None,
        "chatops_command": None,
        "is_issue_update": True,
        "is_issue_note": False,
        "is_system_note": False,
    },
    "note_hook_issue.json": {
        "object_kind": "note",
        "project_id": 5,
        "project_path": "gitlab-org/gitlab-test",
        "user_id": 1,
        "username": "root",
        "issue_iid": 17,
        "action": "create",
        "description_change": None,
        "note_body": "Hello world",
        "chatops_command": None,
        "is_issue_update": False,
        "is_issue_note": True,
        "is_system_note": False,
    },
    "merge_request_hook.json": {
        "object_kind": "merge_request",
        "project_id": 1,
        "project_path": "gitlabhq/gitlab-test",
        "user_id": 1,
        "username": "root",
        "issue_iid": None,  # object_attributes.iid is the merge request's
        "action": "open",
        "description_change": None,
        "note_body": None,
        "chatops_command": None,
        "is_issue_update": False,
        "is_issue_note": False,
        "is_system_note": False,
    },
    "pipeline_hook.json": {
        "object_kind": "pipeline",
        "project_id": 1,
        "project_path": "gitlab-org/gitlab-test",
        "user_id": 1,
        "username": "root",
        "issue_iid": None,
        "action": None,
        "description_change": None,
        "note_body": None,
        "chatops_command": None,
        "is_issue_update": False,
        "is_issue_note": False,
        "is_system_note": False,
    },
}


def documented(relative: str) -> Any:
    return json.loads((GITLAB_DATA / relative).read_text(encoding="utf-8"))


# --- the documented headers -------------------------------------------------------------


def readme_request_headers() -> dict[str, str]:
    """The headers of the README's example request (the fenced block after POST)."""
    readme = (WEBHOOK_PAYLOADS / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\nPOST /webhook HTTP/1\.1\n(.*?)```", readme, re.DOTALL)
    assert block is not None
    return dict(line.split(": ", 1) for line in block.group(1).splitlines())


def test_doc_headers_are_the_readmes() -> None:
    assert readme_request_headers() == {**DOC_HEADERS, "X-Gitlab-Event": "Issue Hook"}


def test_our_headers_are_the_documented_ones() -> None:
    assert set(WEBHOOKS.headers_for(TICKED_NAME)) == set(readme_request_headers())


# --- the suite's checks, on the documented payloads -------------------------------------


def test_accepts_the_documented_delivery() -> None:
    check_accepts_the_delivery(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(KIND_OF))
def test_accepts_every_documented_payload(name: str) -> None:
    check_accepts_the_payload(DOCUMENTED, name)


def test_every_payload_file_is_covered() -> None:
    on_disk = sorted(p.name for p in WEBHOOK_PAYLOADS.glob("*.json"))
    assert on_disk == sorted(ACCESSORS) == sorted(KIND_OF)


@pytest.mark.parametrize("name", sorted(ACCESSORS))
def test_accessors_on_documented_payloads(name: str) -> None:
    check_accessors(DOCUMENTED, name, ACCESSORS[name])


def test_description_change_null_side_reads_as_empty() -> None:
    check_null_description_side_reads_as_empty(DOCUMENTED)


def test_note_top_level_project_id_is_the_fallback() -> None:
    assert DOCUMENTED.payload(NOTE)["project_id"] == 5
    check_note_project_id_fallback(DOCUMENTED)


@pytest.mark.parametrize(
    ("name", "kind", "payload", "kwargs", "queue", "reason"), classify_cases(DOCUMENTED)
)
def test_classify(
    name: str,
    kind: str | None,
    payload: dict[str, Any] | None,
    kwargs: dict[str, Any],
    queue: bool,
    reason: str,
) -> None:
    check_classify(DOCUMENTED, name, kind, payload, kwargs, queue, reason)


@pytest.mark.parametrize(
    ("name", "payload", "expected_call"),
    [
        (TICKED_NAME, None, (1, 23)),
        (NOTE, _with(DOCUMENTED, NOTE, (("object_attributes", "note"), COMMAND)), (5, 17)),
    ],
)
def test_classify_asks_whether_it_is_a_rollout_issue(
    name: str, payload: dict[str, Any] | None, expected_call: tuple[int, int]
) -> None:
    check_asks_whether_it_is_a_rollout_issue(DOCUMENTED, name, payload, expected_call)


def test_classify_does_not_ask_about_events_it_ignores() -> None:
    check_does_not_ask_about_events_it_ignores(DOCUMENTED)


def test_end_to_end_ticked_box_is_queued() -> None:
    assert DOCUMENTED.payload(TICKED_NAME)["project"]["id"] == 1
    check_ticked_box_is_queued(DOCUMENTED)


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_real_payloads_with_values_replaced_never_make_classify_raise(
    data: st.DataObject,
) -> None:
    break_and_exercise(data, DOCUMENTED)


# --- the fake GitLab's hooks carry the documented keys ----------------------------------


@pytest.fixture
def issues_world(fake_gitlab: FakeGitLab, hook_receiver: HookReceiver) -> test_fake_gitlab.World:
    return test_fake_gitlab.make_world(fake_gitlab, hook_receiver)


@pytest.fixture
def issues_project(issues_world: test_fake_gitlab.World) -> Iterator[GlProject]:
    with test_fake_gitlab.client(issues_world.fake, issues_world.bot) as gl:
        yield gl.projects.get("gitlab-org/gitlab")


def test_issue_hook_contract(
    issues_world: test_fake_gitlab.World, issues_project: GlProject
) -> None:
    opened = documented("webhooks/issue_hook.json")
    ticked = documented("webhooks/issue_hook_task_ticked.json")
    test_fake_gitlab.check_issue_hook_contract(
        issues_world, issues_project, opened, opened["changes"], ticked["changes"]
    )


def test_note_hook_contract(
    issues_world: test_fake_gitlab.World, issues_project: GlProject
) -> None:
    shape = documented("webhooks/note_hook_issue.json")
    test_fake_gitlab.check_note_hook_contract(issues_world, issues_project, shape)


def test_merge_request_hook_contract(fake_gitlab: FakeGitLab, hook_receiver: HookReceiver) -> None:
    world = test_fake_gitlab_repository.make_world(fake_gitlab, hook_receiver)
    shape = documented("webhooks/merge_request_hook.json")
    with gitlab.Gitlab(world.fake.url, private_token=world.bot.token) as gl:
        project = gl.projects.get("gitlab-org/gitlab")
        test_fake_gitlab_repository.check_merge_request_hook_contract(world, project, shape)


# --- our fixtures have the documented shapes --------------------------------------------

FIXTURES = sorted(name for name in STANDS_FOR if name.startswith("webhooks/"))


def test_every_fixture_stands_for_a_documented_example() -> None:
    assert FIXTURES == [f"webhooks/{name}" for name in WEBHOOKS.names]
    assert all((GITLAB_DATA / STANDS_FOR[name]).is_file() for name in FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_has_the_documented_shape(name: str) -> None:
    assert hook_shape_differences(documented(STANDS_FOR[name]), fixture(name)) == []


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_is_sent_under_the_documented_event(name: str) -> None:
    """A fixture arrives under its example's X-Gitlab-Event, or that hook's confidential
    variant (the header is the hook's name: "Confidential Issue Hook")."""
    ours = WEBHOOKS.kind_of[name.removeprefix("webhooks/")]
    assert ours.removeprefix("Confidential ") == KIND_OF[STANDS_FOR[name].removeprefix("webhooks/")]


def test_shape_check_catches_drift() -> None:
    """The check above fails on a fixture that strays: an unknown key, a changed type, a
    change of an unknown column, a note on a merge request without its merge request."""
    example = documented("webhooks/issue_hook_task_ticked.json")
    strays: list[tuple[str, Any]] = [
        ("extra key", {**example, "event_kind": "issue"}),
        ("id as text", {**example, "user": {**example["user"], "id": "1"}}),
        (
            "float iid",
            {**example, "object_attributes": {**example["object_attributes"], "iid": 23.0}},
        ),
        ("unknown change", {**example, "changes": {"colour": {"previous": 1, "current": 2}}}),
        ("labels not a list", {**example, "labels": {"title": "API"}}),
    ]
    for what, stray in strays:
        assert hook_shape_differences(example, stray), what
    note = copy.deepcopy(documented("webhooks/note_hook_issue.json"))
    note["object_attributes"]["noteable_type"] = "MergeRequest"
    assert hook_shape_differences(documented("webhooks/note_hook_issue.json"), note) == [
        "$.merge_request is missing or not an object",
        "$.issue is not in the documented example",
    ]
    assert hook_shape_differences(example, example) == []
