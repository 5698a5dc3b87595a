"""Adopting hand-made rollout issues of three template versions: markers only, byte for byte.

The fixtures under tests/fixtures/adoption/ are issues as GitLab renders them from
three versions of its `Feature Flag Roll Out` template, filled in by hand: today's
(CRLF line endings, trailing spaces, odd indentation, a tab after a box, `[~]`), the
seed's (values filled in, a step deleted, one reworded), and an older one (separate
`--dev` / `--staging` lines, `<merge-commit-of-your-feature>`, the rollback command
below its list item). Each has boxes ticked and one command edited to another flag.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from flags.errors import Refusal
from templates.adoption import (
    ALREADY_MARKED,
    OUTSIDE_TASK,
    UNKNOWN_TEXT,
    adopt,
    flag_from_title,
    remove_markers,
)
from templates.adoption_report import adoption_comment
from templates.steps import step_index
from templates.tasklist import parse_tasks
from webhook.step_checks import step_command

FIXTURES = Path(__file__).parent / "fixtures" / "adoption"
FLAG = "product_intelligence_database_event_tracking"
ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")
# Written apart from templates.adoption.remove_markers, so the two check each other.
INSERTED = re.compile(r"(?<=\] )<!-- step:[a-z0-9-]+ --> |(?<=\]\t)<!-- step:[a-z0-9-]+ --> ")

VERSIONS = {
    "current": {
        "ticked": {"change-management", "documentation-updated"},
        "other_flag": (57, "product_analytics_dashboards"),
        "steps": 53,
    },
    "seed": {
        "ticked": {
            "deployed-non-production",
            "deployed-non-production-command",
            "enable-non-production-command",
            "verify-non-production",
        },
        "other_flag": (37, "snowplow_tracking_experiments"),
        "steps": 50,
    },
    "older": {
        "ticked": {
            "deployed-non-production",
            "deployed-non-production-command",
            "enable-dev-command",
        },
        "other_flag": (75, "snowplow_tracking_experiments"),
        "steps": 28,
    },
}


def read(name: str) -> str:
    return (FIXTURES / f"{name}.md").read_bytes().decode("utf-8")


def unmark(text: str) -> str:
    return INSERTED.sub("", text)


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_markers_are_all_that_is_inserted(version: str) -> None:
    original = read(version)
    adoption = adopt(FLAG, original, ENVIRONMENTS)
    assert adoption.changed
    assert adoption.text != original
    assert unmark(adoption.text).encode() == original.encode()
    assert remove_markers(adoption.text) == original
    # Each marker sits on the line that was placed, and names one task.
    index = step_index(adoption.text)
    assert not index.duplicates
    assert {(t.line + 1, t.marker) for t in index.tasks if t.marker} == {
        (p.line, p.step) for p in adoption.placed
    }
    assert len(adoption.placed) == VERSIONS[version]["steps"]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_ticked_boxes_are_reported_done_and_stay_ticked(version: str) -> None:
    adoption = adopt(FLAG, read(version), ENVIRONMENTS)
    assert {p.step for p in adoption.ticked} == VERSIONS[version]["ticked"]
    ticked_now = {t.marker for t in parse_tasks(adoption.text) if t.checked}
    assert ticked_now == VERSIONS[version]["ticked"]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_a_command_naming_another_flag_is_listed_and_left_unmarked(version: str) -> None:
    line, other = VERSIONS[version]["other_flag"]
    adoption = adopt(FLAG, read(version), ENVIRONMENTS)
    (foreign,) = [item for item in adoption.inert if item.other_flag]
    assert (foreign.line, other in foreign.text) == (line, True)
    assert other in foreign.reason
    (task,) = [t for t in parse_tasks(adoption.text) if t.line + 1 == line]
    assert task.marker is None
    assert other not in "".join(shape.line for shape in adoption.shapes.values())


def test_todays_template_places_every_step_but_the_edited_one() -> None:
    adoption = adopt(FLAG, read("current"), ENVIRONMENTS)
    assert adoption.missing == ("rollout-actors-command",)
    assert [item.line for item in adoption.inert] == [57]
    # `[~]` steps are steps too; the user-actor one keeps its slot.
    assert "enable-user-actors-command" in adoption.shapes


def test_the_seeds_values_are_pinned_and_deleted_or_reworded_steps_listed() -> None:
    adoption = adopt(FLAG, read("seed"), ENVIRONMENTS)
    assert adoption.rendering.values.merge_commit_sha == "a6ddfcf7"
    assert adoption.shapes["deployed-production-command"].arguments == ("a6ddfcf7",)
    assert set(adoption.missing) == {"enable-group-actors-command", "enable-user-actors-command"}
    reworded = [item for item in adoption.inert if item.reason == UNKNOWN_TEXT]
    assert [item.text for item in reworded] == [
        "Try it with our pilot customers first, and write down what they say."
    ]


def test_an_older_template_is_recognised_by_its_own_commands() -> None:
    adoption = adopt(FLAG, read("older"), ENVIRONMENTS)
    by_step = {p.step: p for p in adoption.placed}
    assert by_step["enable-dev-command"].line == 28
    assert by_step["enable-staging-command"].line == 29
    assert by_step["cleanup-delete-production-command"].line == 76
    # <merge-commit-of-your-feature> is today's <merge-commit-sha> slot.
    assert adoption.shapes["deployed-production-command"].arguments == ("<merge-commit-sha>",)
    # The rollback command sits below its list item: the step is placed, the command
    # listed as having no checkbox, and ticking the step runs nothing.
    assert [p.step for p in adoption.no_command] == ["rollback"]
    (outside,) = [item for item in adoption.inert if item.reason == OUTSIDE_TASK]
    assert outside.text == f"/chatops run feature set {FLAG} false"


def test_adopted_steps_follow_the_tick_rules_of_opened_issues() -> None:
    shapes = adopt(FLAG, read("current"), ENVIRONMENTS).shapes
    command = step_command(
        f"feature set {FLAG} 25 --random", shapes["rollout-random-command"], ENVIRONMENTS
    )
    assert command.text.endswith("25 --random")
    with pytest.raises(Refusal, match="the flag is `other` where the step has"):
        step_command(
            "feature set other 25 --random", shapes["rollout-random-command"], ENVIRONMENTS
        )
    older = adopt(FLAG, read("older"), ENVIRONMENTS).shapes
    step_command(
        f"feature set {FLAG} true --staging", older["enable-staging-command"], ENVIRONMENTS
    )
    with pytest.raises(Refusal, match="environment `--production` was added"):
        step_command(
            f"feature set {FLAG} true --staging --production",
            older["enable-staging-command"],
            ENVIRONMENTS,
        )


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_adopting_the_adopted_text_changes_nothing(version: str) -> None:
    first = adopt(FLAG, read(version), ENVIRONMENTS)
    again = adopt(FLAG, first.text, ENVIRONMENTS)
    assert not again.changed
    assert again.text == first.text
    assert again.placed == first.placed
    assert again.shapes == first.shapes


def test_markers_the_bot_would_not_write_are_refused() -> None:
    text = (
        "- [ ] <!-- step:rollback --> Enable the feature globally on non-production environments.\n"
    )
    with pytest.raises(Refusal) as refused:
        adopt(FLAG, text, ENVIRONMENTS)
    assert str(refused.value) == ALREADY_MARKED.format(markers="`<!-- step:rollback -->`")


@pytest.mark.parametrize(
    "text",
    [
        "* [x]\tEnable the feature globally on non-production environments.   \r\n",
        "1. [ ]  Enable the feature globally on non-production environments.\r",
        "  -   [ ] Enable the feature globally on non-production environments.",
    ],
    ids=["tab-crlf-trailing", "ordered-lone-cr", "odd-indent-no-newline"],
)
def test_odd_lines_stay_byte_identical(text: str) -> None:
    adoption = adopt(FLAG, text, ENVIRONMENTS)
    assert [p.step for p in adoption.placed] == ["enable-non-production"]
    assert (
        unmark(adoption.text).replace("\r", "\r") == text or remove_markers(adoption.text) == text
    )
    assert remove_markers(adoption.text) == text
    (task,) = parse_tasks(adoption.text)
    assert task.marker == "enable-non-production"


def test_a_box_alone_on_its_line_is_listed_unmarked() -> None:
    text = "- [ ]\n  Enable the feature globally on non-production environments.\n"
    adoption = adopt(FLAG, text, ENVIRONMENTS)
    assert (adoption.placed, adoption.text, adoption.changed) == ((), text, False)
    assert [(item.line, item.text) for item in adoption.inert] == [(1, "(empty)")]


@pytest.mark.parametrize(
    ("title", "flag"),
    [
        (f"[Feature flag] Rollout of `{FLAG}`", FLAG),
        (f"  [feature flag]  Rollout of `{FLAG}` ", FLAG),
        (f"[Feature flag] Enable `{FLAG}`", None),
        ("[Feature flag] Rollout of my_flag", None),
    ],
)
def test_the_flag_comes_from_the_title(title: str, flag: str | None) -> None:
    assert flag_from_title(title) == flag


def test_an_unfilled_flag_placeholder_is_the_issues_flag_and_a_tick_asks_for_it() -> None:
    line = "feature set <feature-flag-name> true --dev --staging --staging-ref"
    text = (
        "- [ ] Enable the feature globally on non-production environments.\n"
        f"    - [ ] `/chatops run {line}`\n"
    )
    adoption = adopt(FLAG, text, ENVIRONMENTS)
    assert [p.step for p in adoption.placed] == [
        "enable-non-production",
        "enable-non-production-command",
    ]
    shape = adoption.shapes["enable-non-production-command"]
    assert shape.flag == FLAG
    with pytest.raises(Refusal, match="replace <feature-flag-name> with a real value"):
        step_command(line, shape, ENVIRONMENTS)
    step_command(line.replace("<feature-flag-name>", FLAG), shape, ENVIRONMENTS)


@pytest.mark.parametrize(
    "command",
    [
        "/chatops run feature set other_flag true`` @all ``--dev",
        "/chatops run feature set other_flag true ```@all``` `x`",
        "/chatops run feature set other_flag true`",
    ],
)
def test_a_listed_command_stays_one_code_span_whatever_backticks_it_holds(command: str) -> None:
    """A person's line quoted in the bot's comment must not turn into Markdown there
    (a mention, a link), however many backticks it holds."""
    fence = "`" * (max(len(run) for run in re.findall(r"`+", command)) + 1)
    text = read("current") + f"\n- [ ] {fence} {command} {fence}\n"
    adoption = adopt(FLAG, text, ENVIRONMENTS)
    (listed,) = [item for item in adoption.inert if item.other_flag and "other_flag" in item.text]
    comment = adoption_comment("<!-- m -->", "@someone", adoption.report())
    (line,) = [ln for ln in comment.splitlines() if ln.strip().startswith(f"- line {listed.line}:")]
    inline = MarkdownIt("commonmark").parseInline(line.strip()[2:])[0].children or []
    spans = [token.content for token in inline if token.type == "code_inline"]
    assert spans[0] == listed.text  # then the reason's `other_flag`
    assert "@all" not in "".join(token.content for token in inline if token.type == "text")
