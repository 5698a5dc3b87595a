"""Markdown for the task-list tests: a whole rollout issue and Hypothesis strategies."""

from __future__ import annotations

from hypothesis import strategies as st

from templates.markers import marker

FLAG = "product_intelligence_database_event_tracking"

ROLLOUT_ISSUE = f"""\
<!-- Title suggestion: [Feature flag] Rollout of `{FLAG}` -->
<!--
Rendered by rollout-bot. Tick a step to run its command, e.g.
- [ ] <!-- step:example --> `/chatops run feature get {FLAG}`
-->

## Summary

This issue is to rollout Snowplow tracking to `group_stages` table on production,
that is currently behind the `{FLAG}` feature flag.

## Owners

- Team: ~"group::product intelligence"
- Most appropriate slack channel to reach out to: `#g_product_intelligence`
- Best individual to reach out to: @nbelokolodov
- PM: @alinamihaila

## Rollout Steps

### Rollout on non-production environments

- [ ] <!-- step:non-production-deployed --> Ensure that the feature MRs have been deployed to non-production environments.
    - [ ] <!-- step:non-production-deployed-command --> `/chatops run auto_deploy status a6ddfcf7`
- [ ] <!-- step:enable-non-production --> Enable the feature globally on non-production environments.
    - [ ] <!-- step:enable-non-production-command --> `/chatops run feature set {FLAG} true --dev --staging --staging-ref`
- [ ] <!-- step:verify-non-production --> Verify that the feature works as expected.
  The best environment to validate the feature in is [staging-canary](https://about.gitlab.com/handbook/)
  as this is the first environment deployed to.

### Specific rollout on production

- [ ] <!-- step:production-deployed --> Ensure that the feature MRs have been deployed to both production and canary.
    - [ ] <!-- step:production-deployed-command --> `/chatops run auto_deploy status a6ddfcf7`
- [ ] <!-- step:enable-projects --> If you're using project-actor, you must enable the feature on these entries:
    - [ ] <!-- step:enable-projects-command --> `/chatops run feature set --project=gitlab-org/gitlab,gitlab-org/gitlab-foss {FLAG} true`
- [ ] <!-- step:enable-groups --> If you're using group-actor, you must enable the feature on these entries:
    - [ ] <!-- step:enable-groups-command --> `/chatops run feature set --group=gitlab-org,gitlab-com {FLAG} true`
- [ ] <!-- step:verify-specific --> Verify that the feature works on the specific entries.

### Preparation before global rollout

- [ ] <!-- step:change-management --> Check if the feature flag change needs to be accompanied with a
  [change management issue](https://about.gitlab.com/handbook/engineering/infrastructure/change-management/).
- [ ] <!-- step:available --> Ensure that you can be available for at least 2 hours after feature flag updates in production.
- [~] <!-- step:breaking-changes --> Ensure that any breaking changes have been announced.
- [x] <!-- step:notify-support --> Notify `#support_gitlab-com` and your team channel.

### Global rollout on production

For visibility, all `/chatops` commands that target production should be executed in `#production`.

- [ ] <!-- step:incremental --> Incrementally roll out the feature.
  - If the feature flag in code has an actor, perform actor-based rollout.
    - [ ] <!-- step:rollout-actors --> `/chatops run feature set {FLAG} <rollout-percentage> --actors`
  - If the feature flag in code does **NOT** have an actor, perform time-based rollout.
    - [ ] <!-- step:rollout-random --> `/chatops run feature set {FLAG} <rollout-percentage> --random`
  - Enable the feature globally on production environment.
    - [ ] <!-- step:enable-production --> `/chatops run feature set {FLAG} true`
- [ ] <!-- step:announce-enabled --> Announce on the feature issue that the feature has been globally enabled.
- [ ] <!-- step:wait --> Wait for at least one day for the verification term.

### Release the feature

1. [ ] <!-- step:cleanup-mr --> Create a merge request to remove `{FLAG}` feature flag.
   1. [ ] <!-- step:cleanup-references --> Remove all references to the feature flag from the codebase.
   2. [ ] <!-- step:cleanup-definition --> Remove the YAML definitions for the feature from the repository.
   3. [ ] <!-- step:cleanup-changelog --> Create a changelog entry.
2. [ ] <!-- step:cleanup-released --> Ensure that the cleanup MR has been included in the release package.
   * [ ] <!-- step:cleanup-released-command --> `/chatops run release check <merge-request-url> <milestone>`
3. [ ] <!-- step:cleanup-delete --> If not already done, clean up the feature flag from all environments:
   * [ ] <!-- step:cleanup-delete-command --> `/chatops run feature delete {FLAG} --dev --staging --staging-ref --production`
4. [ ] <!-- step:close --> Close this rollout issue.

## Rollback Steps

- [ ] <!-- step:rollback --> This feature can be disabled by running the following Chatops command:

  ```
  - [ ] <!-- step:in-fence --> this line is inside the fence and is not a task
  /chatops run feature set {FLAG} false
  ```

/label ~"feature flag"
"""  # noqa: E501 (an issue's lines are as long as its authors write them)


# --- generated documents ------------------------------------------------------------

STEP_IDS = ("a", "b", "enable-staging", "rollback", "x1")
INLINE = st.text(alphabet="ab x~*_-+[]<>!`\\/.#=1)", max_size=12)
BOXES = ("[ ]", "[x]", "[X]", "[~]")


@st.composite
def task_lines(
    draw: st.DrawFn,
    marked: bool = False,
    boxes: tuple[str, ...] = BOXES,
    inline: st.SearchStrategy[str] = INLINE,
) -> str:
    # Marked lines stay tasks wherever they stand: no 4-column indent or 5-space gap.
    indents = ["", " ", "  ", "   "] + ([] if marked else ["    ", "\t", "      "])
    indent = draw(st.sampled_from(indents))
    bullet = draw(st.sampled_from(["-", "*", "+", "1.", "1)", "7.", "- -"]))
    gap = draw(st.sampled_from([" ", "  ", "\t"] + ([] if marked else ["     "])))
    box = draw(st.sampled_from(boxes))
    step = draw(st.sampled_from(STEP_IDS) if marked else st.none() | st.sampled_from(STEP_IDS))
    label = "" if step is None else " " + marker(step)
    command = draw(st.sampled_from(["", " `/chatops run feature get f`"]))
    return f"{indent}{bullet}{gap}{box}{label} {draw(inline)}{command}"


BLOCK_LINES = (
    "",
    "text",
    "```",
    "~~~~",
    "  ```",
    "<!--",
    "-->",
    "<details>",
    "    indented",
    "> quote",
    "---",
    "# heading",
    "  continued",
    "  /chatops run feature set f false",
)
"""Lines that open, continue or close the blocks around task items."""

OTHER_LINES = st.sampled_from(BLOCK_LINES) | INLINE
LINES = st.lists(task_lines() | OTHER_LINES, min_size=1, max_size=25)


def join(lines: list[str], endings: list[str]) -> str:
    return "".join(line + ending for line, ending in zip(lines, endings, strict=True))


@st.composite
def documents(
    draw: st.DrawFn,
    first: st.SearchStrategy[str] | None = None,
    rest: st.SearchStrategy[list[str]] = LINES,
) -> str:
    """Random lines after a first line that is (nearly always) a marked task."""
    lines = [draw(task_lines(marked=True) if first is None else first), *draw(rest)]
    endings = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    if draw(st.booleans()):
        endings[-1] = ""
    return join(lines, endings)


ANY_TEXT = (
    st.text(alphabet="- *+1.)[]xX~ \t`<!>/\r\n#=ab\\:", max_size=200)
    | st.text(max_size=100)
    | documents()
)
"""Anything at all, weighted towards Markdown block syntax."""
