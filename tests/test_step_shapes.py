"""Step shapes, pure: read from the rendered issue, matched against live lines, bound late."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flags.environments import DEFAULT_ENVIRONMENTS
from flags.errors import Refusal
from templates.render import ISSUE_COMMAND_STEP_IDS, TEMPLATE_VERSION, IssueValues, render_issue
from templates.step_binding import (
    COMMAND_MISSING,
    STEP_MISSING,
    STEP_REPEATED,
    bind,
    recover_values,
    render_with_shapes,
    values_from_json,
    values_to_json,
)
from templates.step_shapes import (
    SLOTS,
    CommandShape,
    Difference,
    differences,
    read_shape,
    step_shapes,
    unknown_placeholders,
)

FLAG = "my_flag"
ENVS = DEFAULT_ENVIRONMENTS
SHA = "a6ddfcf7"


def shapes(**values: Any) -> dict[str, CommandShape]:
    return dict(render_with_shapes(IssueValues(flag_name=FLAG, **values), ENVS).shapes)


def test_every_command_step_of_the_template_has_a_shape_read_from_the_markdown() -> None:
    found = shapes()
    assert set(found) == ISSUE_COMMAND_STEP_IDS
    for shape in found.values():
        assert unknown_placeholders(shape.text) == []
    assert found["enable-non-production-command"] == CommandShape(
        verb="feature set", flag=FLAG, value="true", environments=("dev", "staging", "staging-ref")
    )
    assert found["rollout-actors-command"] == CommandShape(
        verb="feature set", flag=FLAG, value="<rollout-percentage>", options=("--actors",)
    )
    assert found["enable-user-actors-command"].targets == (("user", ("<your-username>",)),)
    assert found["deployed-production-command"].arguments == ("<merge-commit-sha>",)
    assert found["default-enabling-released-command"] == CommandShape(
        verb="release check", arguments=("<merge-request-url>", "<milestone>")
    )
    assert found["rollback"] == CommandShape(verb="feature set", flag=FLAG, value="false")
    assert found["rollback"].line == f"/chatops run feature set {FLAG} false"


def test_rendered_values_are_literals_in_the_shape() -> None:
    found = shapes(merge_commit_sha=SHA, actor_projects=("gitlab-org/gitlab", "gitlab-org/foss"))
    assert found["deployed-non-production-command"].arguments == (SHA,)
    assert found["enable-project-actors-command"].targets == (
        ("project", ("gitlab-org/gitlab", "gitlab-org/foss")),
    )
    assert found["enable-group-actors-command"].targets == (("group", ("<group-path>",)),)


def test_a_shape_survives_json() -> None:
    for shape in shapes(actor_groups=("gitlab-org",)).values():
        assert CommandShape.from_json(json.loads(json.dumps(shape.to_json()))) == shape


def test_environments_are_the_configured_ones() -> None:
    shape = read_shape("feature set x true --canary --dev", ("dev", "canary"))
    assert shape.environments == ("dev", "canary") and shape.options == ()
    assert read_shape("feature set x true --canary", ENVS).options == ("--canary",)


def test_an_unreadable_line_is_refused() -> None:
    with pytest.raises(Refusal, match="cannot read the command"):
        read_shape("feature set x 'true", ENVS)


NON_PRODUCTION = "enable-non-production-command"
CASES = [
    # (step, live line, the differences' text); [] means the line fits the step.
    (NON_PRODUCTION, f"feature set {FLAG} true --dev --staging --staging-ref", []),
    (NON_PRODUCTION, f"feature set `{FLAG}` TRUE --staging-ref --staging --dev", []),
    (
        NON_PRODUCTION,
        "feature set other_flag true --dev --staging --staging-ref",
        [f"the flag is `other_flag` where the step has `{FLAG}`"],
    ),
    (
        NON_PRODUCTION,
        f"feature delete {FLAG} --dev --staging --staging-ref",
        ["the command is `feature delete` where the step has `feature set`"],
    ),
    (
        NON_PRODUCTION,
        f"feature set {FLAG} true --dev --staging --staging-ref --production",
        ["environment `--production` was added"],
    ),
    (
        NON_PRODUCTION,
        f"feature set {FLAG} true --dev --staging",
        ["environment `--staging-ref` was removed"],
    ),
    (
        NON_PRODUCTION,
        f"feature set {FLAG} false --dev --staging --staging-ref",
        ["the value is `false` where the step has `true`"],
    ),
    (
        "enable-production-command",
        f"feature set {FLAG} true --ignore-feature-flag-consistency-check --group=gitlab-org",
        [
            "option `--ignore-feature-flag-consistency-check` was added",
            "--group `gitlab-org` was added",
        ],
    ),
    ("rollout-actors-command", f"feature set {FLAG} 25 --actors", []),
    ("rollout-actors-command", f"feature set {FLAG} 12.5 --actors", []),
    ("rollout-actors-command", f"feature set {FLAG} 100 --actors", []),
    ("rollout-actors-command", f"feature set {FLAG} <rollout-percentage> --actors", []),
    (
        "rollout-actors-command",
        f"feature set {FLAG} 25 --random",
        ["option `--actors` was removed", "option `--random` was added"],
    ),
    ("enable-user-actors-command", f"feature set --user=alice,dave {FLAG} true", []),
    ("enable-project-actors-command", f"feature set --project=gitlab-org/gitlab,7 {FLAG} true", []),
    ("deployed-production-command", f"auto_deploy status {SHA}", []),
    (
        "deployed-production-command",
        f"auto_deploy status {SHA} extra",
        ["argument 2 `extra` was added"],
    ),
    (
        "cleanup-released-command",
        "release check http://127.0.0.1:8080/gitlab-org/gitlab/-/merge_requests/12 17.3",
        [],
    ),
]


@pytest.mark.parametrize(("step", "line", "expected"), CASES)
def test_a_line_fits_its_step_or_says_what_differs(
    step: str, line: str, expected: list[str]
) -> None:
    shape = shapes()[step]
    assert [str(d) for d in differences(shape, read_shape(line, ENVS))] == expected


WRONG_TYPES = [
    ("rollout-actors-command", f"feature set {FLAG} 25% --actors", "the value", "25%"),
    ("rollout-actors-command", f"feature set {FLAG} abc --actors", "the value", "abc"),
    ("rollout-actors-command", f"feature set {FLAG} 100.5 --actors", "the value", "100.5"),
    (
        "deployed-non-production-command",
        "auto_deploy status https://gitlab.com/gitlab-org/gitlab/-/commit/a6ddfcf7",
        "argument 1",
        "https://gitlab.com/gitlab-org/gitlab/-/commit/a6ddfcf7",
    ),
    (
        "cleanup-released-command",
        "release check https://gitlab.com/gitlab-org/gitlab/-/issues/3 17.3",
        "argument 1",
        "https://gitlab.com/gitlab-org/gitlab/-/issues/3",
    ),
    (
        "cleanup-released-command",
        "release check https://gitlab.com/gitlab-org/gitlab/-/merge_requests/3 soon",
        "argument 2",
        "soon",
    ),
    ("enable-user-actors-command", f"feature set --user=alice,a/b {FLAG} true", "--user", "a/b"),
    (
        "enable-project-actors-command",
        f"feature set --project=gitlab {FLAG} true",
        "--project",
        "gitlab",
    ),
]


@pytest.mark.parametrize(("step", "line", "part", "value"), WRONG_TYPES)
def test_a_slot_takes_only_values_of_its_type(step: str, line: str, part: str, value: str) -> None:
    shape = shapes()[step]
    (difference,) = differences(shape, read_shape(line, ENVS))
    slot = difference.slot
    assert slot is not None and difference.part == part and difference.found == value
    assert slot is SLOTS[difference.expected or ""]
    assert str(difference) == (
        f"{part} is the slot {slot.placeholder}, which takes {slot.takes}, "
        f"but the line has `{value}`"
    )


def test_a_missing_slot_is_named() -> None:
    shape = shapes()["deployed-production-command"]
    assert differences(shape, read_shape("auto_deploy status", ENVS)) == [
        Difference("argument 1", "<merge-commit-sha>", None, SLOTS["<merge-commit-sha>"])
    ]
    assert "argument 1 is missing: the slot <merge-commit-sha> (a commit SHA" in str(
        differences(shape, read_shape("auto_deploy status", ENVS))[0]
    )


def test_literal_targets_are_pinned() -> None:
    shape = shapes(actor_groups=("gitlab-org",))["enable-group-actors-command"]
    assert differences(shape, read_shape(f"feature set --group=gitlab-com {FLAG} true", ENVS)) == [
        Difference("--group", "gitlab-org", "gitlab-com")
    ]


def test_step_shapes_reads_any_description() -> None:
    text = f"- [ ] <!-- step:a --> `/chatops run feature get {FLAG}`\n- [ ] <!-- step:b --> no\n"
    assert step_shapes(text, ENVS) == {"a": CommandShape(verb="feature get", flag=FLAG)}


# --- binding issues opened before shapes were recorded ---------------------------------


def test_an_untouched_older_issue_binds_every_command_step() -> None:
    markdown = render_issue(IssueValues(flag_name=FLAG))
    binding = bind(FLAG, markdown, ENVS)
    assert binding.unmatched == {}
    assert binding.shapes == shapes()
    assert binding.rendering.template_version == TEMPLATE_VERSION


def test_values_that_went_into_commands_are_recovered_and_pinned() -> None:
    values = IssueValues(
        flag_name=FLAG, merge_commit_sha=SHA, actor_users=("alice",), dri_username="nb"
    )
    markdown = render_issue(values)
    recovered = recover_values(FLAG, markdown, ENVS)
    assert recovered == IssueValues(flag_name=FLAG, merge_commit_sha=SHA, actor_users=("alice",))
    binding = bind(FLAG, markdown, ENVS)
    assert binding.unmatched == {}
    assert binding.shapes["enable-user-actors-command"].targets == (("user", ("alice",)),)


def test_filled_slots_still_match_but_a_changed_step_does_not() -> None:
    markdown = render_issue(IssueValues(flag_name=FLAG))
    markdown = markdown.replace(f"{FLAG} <rollout-percentage> --actors", f"{FLAG} 25 --actors")
    markdown = markdown.replace(f"feature set {FLAG} true`", "feature set other_flag true`")
    binding = bind(FLAG, markdown, ENVS)
    assert "rollout-actors-command" in binding.shapes
    assert binding.unmatched == {
        "enable-production-command": (
            f"the command is not the template's `/chatops run feature set {FLAG} true`: "
            f"the flag is `other_flag` where the step has `{FLAG}`"
        )
    }


def test_missing_repeated_and_emptied_steps_are_not_bound() -> None:
    markdown = render_issue(IssueValues(flag_name=FLAG))
    lines = markdown.split("\n")
    (rollback,) = [i for i, line in enumerate(lines) if "<!-- step:rollback -->" in line]
    (actors,) = [i for i, line in enumerate(lines) if "step:rollout-actors-command" in line]
    copy = lines[actors]
    lines[actors + 1 : actors + 1] = [copy]
    del lines[rollback : rollback + 4]
    text = "\n".join(lines).replace(f"`/chatops run feature set {FLAG} true`", "enable it by hand")
    binding = bind(FLAG, text, ENVS)
    assert binding.unmatched == {
        "rollback": STEP_MISSING,
        "rollout-actors-command": STEP_REPEATED.format(count=2),
        "enable-production-command": COMMAND_MISSING,
    }


def test_values_survive_json() -> None:
    values = IssueValues(flag_name=FLAG, actor_groups=("a", "b"), stakeholders=("x",))
    assert values_from_json(json.loads(json.dumps(values_to_json(values)))) == values
