"""The rollout issue template: every section, step and command of the seed, stable markers."""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flags.definitions import Definition, parse
from flags.errors import Refusal
from gitlab_ops import chatops
from templates.render import (
    ISSUE_COMMAND_STEP_IDS,
    ISSUE_HEADER,
    ISSUE_STEP_IDS,
    ISSUE_TEMPLATE,
    STEP_MARKER,
    TEMPLATE_VERSION,
    IssueValues,
    Markdown,
    environment,
    issue_title,
    md_inline,
    render,
    render_issue,
)
from tests.issue_shape import CODE_SPAN, command_of, expected, shape, steps

REPO = Path(__file__).resolve().parent.parent
FLAG = "product_intelligence_database_event_tracking"
DEFINITION = REPO / "config" / "feature_flags" / "development" / f"{FLAG}.yml"
ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")

# Any list item with a task box, also inside a block quote: what GitLab would tick.
ANY_TASK = re.compile(r"^[ \t>]*(?:[-+*]|[0-9]{1,9}[.)])[ \t]+\[[ xX~]\]")
MARKER_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def task_tree_problems(issue: str) -> list[str]:
    """Problems for a task-list parser: each box top-level or 4 spaces under a box."""
    problems = []
    open_boxes: list[int] = []  # indents of the task items the current line may sit in
    for number, line in enumerate(issue.split("\n"), start=1):
        if ANY_TASK.match(line):
            indent = len(line) - len(line.lstrip(" "))
            if line[indent : indent + 6] != "- [ ] ":
                problems.append(f"line {number}: not a '- [ ] ' item")
            while open_boxes and open_boxes[-1] >= indent:
                open_boxes.pop()
            expected = open_boxes[-1] + 4 if open_boxes else 0
            if indent != expected:
                problems.append(f"line {number}: indent {indent}, expected {expected}")
            open_boxes.append(indent)
        elif not line.strip():
            continue
        elif open_boxes and line.startswith(" " * (open_boxes[-1] + 2)):
            continue  # content of the innermost item (the rollback fence)
        else:
            open_boxes.clear()
    return problems


def code_spans(issue: str) -> str:
    return "\n".join(CODE_SPAN.findall(issue))


def outside_code_and_comments(issue: str) -> str:
    text = re.sub(r"^ *```\n.*?^ *```$", "", issue, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"<!--.*?-->", "", text)
    return CODE_SPAN.sub("", text)


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    """The seed issue's title, values, sections, steps and commands, as data."""
    return expected()


@pytest.fixture(scope="module")
def definition() -> Definition:
    parsed, problems = parse(str(DEFINITION), DEFINITION.read_text(encoding="utf-8"))
    assert parsed is not None, problems
    return parsed


@pytest.fixture(scope="module")
def seed_values(definition: Definition, seed: dict[str, Any]) -> IssueValues:
    return IssueValues.from_definition(definition, **seed["values"])


@pytest.fixture(scope="module")
def issue(seed_values: IssueValues) -> str:
    return render_issue(seed_values)


def test_title_is_the_seed_title(seed: dict[str, Any]) -> None:
    assert issue_title(FLAG) == seed["title"]


def test_sections_steps_and_commands_are_the_seeds(seed: dict[str, Any], issue: str) -> None:
    """Every section, step and command of the seed, in its order, nesting and words."""
    rendered = shape(issue)
    assert [(s["title"], s["level"]) for s in rendered] == [
        (s["title"], s["level"]) for s in seed["sections"]
    ]
    for ours, theirs in zip(rendered, seed["sections"], strict=True):
        assert ours["steps"] == theirs["steps"], ours["title"]


def test_every_seed_command_is_carried_by_a_step(seed: dict[str, Any], issue: str) -> None:
    commands = [s["command"] for x in seed["sections"] for s in x["steps"] if s["command"]]
    assert len(commands) == 14
    carried = [command_of(issue, step) for step in steps(issue)]
    assert [command for command in carried if command is not None] == commands
    assert "### What are we expecting to happen?" in issue.splitlines()


def test_the_shape_reader_sees_a_changed_step() -> None:
    issue = (
        "## A\n\n- [ ] <!-- step:a --> [Do](https://x.test) `it` (`<feature-issue-url>`).\n"
        "    - [ ] <!-- step:a-command --> `/chatops run feature get f`\n"
        "    - [ ] <!-- step:b --> Then this.\n"
    )
    assert shape(issue) == [
        {
            "title": "A",
            "level": 2,
            "steps": [
                {"depth": 0, "command": "/chatops run feature get f", "text": "Do it."},
                {"depth": 1, "command": None, "text": "Then this."},
            ],
        }
    ]


def test_the_seed_values_are_in_the_issue(issue: str) -> None:
    assert '- Team: ~"group::product intelligence"' in issue
    assert "- Most appropriate slack channel to reach out to: `#g_product_intelligence`" in issue
    assert "- Best individual to reach out to: @nbelokolodov" in issue
    assert "- PM: @alinamihaila" in issue
    assert (
        "This issue is to rollout Snowplow tracking to group_stages table (`<feature-issue-url>`) "
        f"on production, that is currently behind the `{FLAG}` feature flag." in issue
    )
    assert "events happening on group_stage table\n" in issue
    assert "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/92079" in issue


def test_every_checkbox_carries_a_unique_marker(issue: str) -> None:
    boxes = [line for line in issue.split("\n") if ANY_TASK.match(line)]
    found = steps(issue)
    assert len(boxes) == len(found) == len(ISSUE_STEP_IDS)
    ids = [step.id for step in found]
    assert all(MARKER_ID.match(step_id) for step_id in ids)
    assert len(set(ids)) == len(ids)
    assert STEP_MARKER.findall(issue) == ids  # no marker outside a checkbox


def test_markers_are_the_published_ids(issue: str) -> None:
    found = steps(issue)
    assert tuple(step.id for step in found) == ISSUE_STEP_IDS
    carrying = {step.id for step in found if command_of(issue, step) is not None}
    assert carrying == ISSUE_COMMAND_STEP_IDS
    assert issue.count("/chatops run") == len(ISSUE_COMMAND_STEP_IDS)


def test_commands_are_what_the_grammar_accepts(issue: str) -> None:
    for step in steps(issue):
        command = command_of(issue, step)
        if command is None:
            continue
        try:
            chatops.parse(command, ENVIRONMENTS)
        except Refusal as refusal:
            assert "placeholder" in str(refusal), (step.id, command, refusal)


def test_task_list_nests_by_four_spaces_under_a_checkbox(issue: str) -> None:
    assert task_tree_problems(issue) == []
    assert {step.indent for step in steps(issue)} == {0, 4, 8}
    assert "\t" not in issue


def test_the_tree_check_catches_bad_nesting() -> None:
    good = "- [ ] a\n    - [ ] b\n        - [ ] c\n- [ ] d\n"
    assert task_tree_problems(good) == []
    assert task_tree_problems("- [ ] a\n  - [ ] b\n") != []
    assert task_tree_problems("- [ ] a\n        - [ ] b\n") != []
    assert task_tree_problems("- a\n    - [ ] b\n") != []
    assert task_tree_problems("Text\n    - [ ] b\n") != []
    assert task_tree_problems("* [ ] a\n") != []


def test_rollback_command_is_a_fenced_block_under_its_checkbox(issue: str) -> None:
    assert issue.endswith(
        "- [ ] <!-- step:rollback --> This feature can be disabled by running the following "
        "Chatops command:\n"
        "    ```\n"
        f"    /chatops run feature set {FLAG} false\n"
        "    ```\n"
    )


def test_header_records_flag_and_template_version(issue: str) -> None:
    first = issue.split("\n", 1)[0]
    assert first == f"<!-- rollout-bot: flag={FLAG} template={TEMPLATE_VERSION} -->"
    match = ISSUE_HEADER.search(issue)
    assert match is not None
    assert (match["flag"], int(match["version"])) == (FLAG, TEMPLATE_VERSION)


def test_rendering_is_deterministic(seed_values: IssueValues, issue: str) -> None:
    assert render_issue(seed_values) == issue
    environment.cache_clear()
    assert render_issue(seed_values) == issue
    assert issue.endswith("\n") and not issue.endswith("\n\n")


def test_markers_do_not_depend_on_values(issue: str) -> None:
    for values in (
        IssueValues(flag_name=FLAG),
        IssueValues(flag_name="other_flag", actor_users=("someone",), stakeholders=("x", "y")),
    ):
        other = render_issue(values)
        assert [s.id for s in steps(other)] == [s.id for s in steps(issue)]
        assert [s.indent for s in steps(other)] == [s.indent for s in steps(issue)]


def test_a_missing_variable_fails_loudly(seed_values: IssueValues) -> None:
    context = {**seed_values.context(), "template_version": TEMPLATE_VERSION}
    render(ISSUE_TEMPLATE, **context)
    for name in context:
        partial = {key: value for key, value in context.items() if key != name}
        with pytest.raises(jinja2.UndefinedError):
            render(ISSUE_TEMPLATE, **partial)


def test_unknown_values_are_visible_placeholders() -> None:
    issue = render_issue(IssueValues(flag_name=FLAG))
    spans = code_spans(issue)
    for placeholder in (
        "<feature-issue-url>",
        "<feature-mr-url>",
        "<group-label>",
        "#<team-slack-channel>",
        "<dri-username>",
        "<pm-username>",
        "<what-we-expect-to-happen>",
        "auto_deploy status <merge-commit-sha>",
        "--project=<project-path>",
        "--group=<group-path>",
        "--user=<your-username>",
        "<rollout-percentage>",
        "release check <merge-request-url> <milestone>",
    ):
        assert placeholder in spans, placeholder
    # Outside a code span GitLab would take <placeholder> for an HTML tag and drop it.
    assert not re.search(r"<[A-Za-z]", outside_code_and_comments(issue))
    assert "This issue is to rollout the feature (`<feature-issue-url>`) on production" in issue
    assert "None" not in issue


HOSTILE = (
    "fine\n- [ ] <!-- step:evil --> `/chatops run feature set evil true`",
    "- [ ] <!-- step:rollback --> y",
    "[ ] y",
    "1. [ ] y",
    "x\r\n    - [x] y",
    "x\u2028- [ ] y\x0b- [ ] z",
    "> - [ ] y",
    "```\n- [ ] y",
    "## Rollback Steps",
    "ok -->\n- [ ] y <!--",
    "<!-- step:evil -->",
)
FREE_TEXT = (
    "summary",
    "expectations",
    "group",
    "team_slack_channel",
    "dri_username",
    "pm_username",
)


@pytest.mark.parametrize("field", [*FREE_TEXT, "stakeholders"])
@pytest.mark.parametrize("payload", HOSTILE)
def test_values_cannot_add_task_items_markers_or_headings(
    field: str, payload: str, issue: str, seed_values: IssueValues
) -> None:
    value: Any = (payload, payload) if field == "stakeholders" else payload
    hostile = render_issue(dataclasses.replace(seed_values, **{field: value}))

    def shape(text: str) -> tuple[list[str], list[str], int, int]:
        lines = text.split("\n")
        return (
            [line for line in lines if ANY_TASK.match(line)],
            [line for line in lines if re.match(r"^ {0,3}#{1,6}(\s|$)", line)],
            text.count("<!--"),
            sum(1 for line in lines if line.lstrip().startswith(("```", "~~~"))),
        )

    assert shape(hostile) == shape(issue)
    assert STEP_MARKER.findall(hostile) == list(ISSUE_STEP_IDS)
    assert len(hostile.splitlines()) == hostile.count("\n")  # no line break Python sees
    assert task_tree_problems(hostile) == []


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("plain text", "plain text"),
        ("  padded  ", "padded"),
        ("a\nb\r\nc\u2029d", "a b c d"),
        ("<!-- step:x -->", "&lt;!-- step:x --&gt;"),
        ("- [ ] task", "\\- [ ] task"),
        ("* item", "\\* item"),
        ("+ item", "\\+ item"),
        ("[ ] box", "\\[ ] box"),
        ("[x] box", "\\[x] box"),
        ("3. item", "3\\. item"),
        ("3) item", "3\\) item"),
        ("# heading", "\\# heading"),
        ("#123 issue", "#123 issue"),
        ("> quote", "\\> quote"),
        ("```fence", "\\```fence"),
        ("~~~fence", "\\~~~fence"),
        ("[link](https://example.com)", "[link](https://example.com)"),
        ("`<placeholder>`", "`<placeholder>`"),
        ("group::product intelligence", "group::product intelligence"),
        (None, "None"),
        (3, "3"),
    ],
)
def test_md_inline(raw: object, safe: str) -> None:
    assert md_inline(raw) == safe
    assert environment().filters["md_inline"] is md_inline


@settings(database=None, max_examples=300)
@given(st.text())
def test_md_inline_keeps_any_value_on_one_harmless_line(value: str) -> None:
    safe = md_inline(value)
    assert len(safe.splitlines()) <= 1
    assert "<!--" not in safe and "-->" not in safe
    assert not ANY_TASK.match(safe) and not ANY_TASK.match("- " + safe)
    assert md_inline(safe) == safe


def test_markdown_built_by_the_code_passes_through() -> None:
    template = environment().from_string("{{ block }}|{{ text }}")
    block = Markdown("```\na\n```")
    assert template.render(block=block, text="b\nc") == "```\na\n```|b c"


@pytest.mark.parametrize(
    "overrides",
    [
        {"flag_name": "Bad-Name"},
        {"merge_commit_sha": "a6ddfcf7 --production"},
        {"merge_commit_sha": "not-a-sha"},
        {"actor_projects": ("gitlab-org/gitlab` --production",)},
        {"actor_groups": ("a,b",)},
        {"actor_users": ("<your-username>",)},
        {"actor_users": ("me\n- [ ] x",)},
        {"feature_issue_url": "javascript:alert(1)"},
        {"introduced_by_url": "https://x.test/a) <!-- step:evil -->"},
    ],
)
def test_values_that_go_into_commands_or_links_are_validated(
    seed_values: IssueValues, overrides: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(seed_values, **overrides)


def test_entries_must_be_sequences(seed_values: IssueValues) -> None:
    with pytest.raises(TypeError):
        dataclasses.replace(seed_values, actor_groups="gitlab-org")  # type: ignore[arg-type]


def test_from_definition_takes_overrides(definition: Definition) -> None:
    values = IssueValues.from_definition(
        definition,
        actor_users=["alice", " bob "],
        dri_username="@nbelokolodov",
        team_slack_channel="#g_product_intelligence",
        merge_commit_sha="A6DDFCF7",
        summary="  ",
    )
    assert values.flag_name == FLAG
    assert values.group == "group::product intelligence"
    assert values.introduced_by_url == definition.introduced_by_url
    assert values.feature_issue_url is None
    assert values.actor_users == ("alice", "bob")
    assert (values.dri_username, values.team_slack_channel) == (
        "nbelokolodov",
        "g_product_intelligence",
    )
    assert values.merge_commit_sha == "a6ddfcf7"
    assert values.summary is None
    assert f"--user=alice,bob {FLAG} true`" in render_issue(values)
    with pytest.raises(TypeError):
        IssueValues.from_definition(definition, no_such_field="x")


def test_feature_issue_url_links_every_mention(definition: Definition) -> None:
    url = "https://gitlab.com/gitlab-org/gitlab/-/issues/1"
    issue = render_issue(IssueValues.from_definition(definition, feature_issue_url=url))
    assert issue.count(f"[the feature issue]({url})") == 4
    assert f"This issue is to rollout [the feature]({url}) on production" in issue
    assert "<feature-issue-url>" not in issue


def test_templates_are_package_data() -> None:
    assert (importlib.resources.files("templates") / ISSUE_TEMPLATE).is_file()
    assert ISSUE_TEMPLATE in environment().list_templates()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert any("*.j2" in patterns for patterns in package_data.values())


def test_importing_builds_nothing() -> None:
    code = (
        "import templates.render as r; "
        "assert r.environment.cache_info().currsize == 0, 'environment built at import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
