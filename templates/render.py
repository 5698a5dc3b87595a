"""The one place that renders templates: the rollout issue now, the bot's comments later.

Output is GitLab Flavored Markdown, so autoescape is off: GitLab renders (and
sanitises) the Markdown itself, and HTML-escaping would corrupt it, turning
`<rollout-percentage>` inside a code span into a visible `&lt;rollout-percentage&gt;`
and breaking the commands the bot reads back. What must not happen instead is
a value from a user (a summary, a channel, a username) reshaping the issue: an
extra task item, a step marker, a heading or a fence. So every `{{ ... }}`
goes through `md_inline` (the Environment's `finalize`, also the `md_inline`
filter), which keeps a value on one line and makes Markdown block syntax at
its start, and `<!--` anywhere, plain text. Values that end up inside a command
(flag name, SHA, actor entries) and URLs are validated by `IssueValues` instead,
because escaping cannot make a wrong command right.

The step markers (`<!-- step:ID -->`) live only in the template, never in
values; `ISSUE_STEP_IDS` lists them and the tests check both agree.
GitLab task lists: https://docs.gitlab.com/user/markdown/#task-lists
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from flags.definitions import NAME_PATTERN, Definition

ISSUE_TEMPLATE = "rollout_issue.md.j2"
TEMPLATE_VERSION = 1
"""Bump when a step marker is added, removed or changes meaning, or a step's command changes:
it is recorded with each issue beside the command shapes read from the rendering."""

ISSUE_HEADER = re.compile(
    r"^<!-- rollout-bot: flag=(?P<flag>[a-z0-9_]+) template=(?P<version>[0-9]+) -->$",
    re.MULTILINE,
)
STEP_MARKER = re.compile(r"<!-- step:(?P<id>[a-z0-9][a-z0-9-]*) -->")

ISSUE_STEP_IDS: tuple[str, ...] = (
    # Rollout on non-production environments
    "deployed-non-production",
    "deployed-non-production-command",
    "enable-non-production",
    "enable-non-production-command",
    "verify-non-production",
    # Specific rollout on production
    "deployed-production",
    "deployed-production-command",
    "enable-project-actors",
    "enable-project-actors-command",
    "enable-group-actors",
    "enable-group-actors-command",
    "enable-user-actors",
    "enable-user-actors-command",
    "verify-specific-entries",
    # Preparation before global rollout
    "change-management",
    "available-after-rollout",
    "documentation-updated",
    "announce-estimated-time",
    "breaking-changes-announced",
    "notify-support",
    # Global rollout on production
    "incremental-rollout",
    "rollout-actors",
    "rollout-actors-command",
    "rollout-random",
    "rollout-random-command",
    "enable-production",
    "enable-production-command",
    "announce-enabled",
    "verification-term",
    # (Optional) Release the feature with the feature flag
    "default-enabling-mr",
    "default-enabling-mr-definition",
    "default-enabling-mr-changelog",
    "default-enabling-released",
    "default-enabling-released-command",
    "default-enabling-delete",
    "default-enabling-delete-command",
    "default-enabling-close-feature-issue",
    "default-enabling-next-milestone",
    "cleanup-issue",
    "cleanup-issue-title",
    "cleanup-issue-copy-metadata",
    "cleanup-issue-related",
    "cleanup-issue-close-rollout",
    # Release the feature
    "cleanup-mr",
    "cleanup-mr-references",
    "cleanup-mr-definition",
    "cleanup-mr-changelog",
    "cleanup-released",
    "cleanup-released-command",
    "cleanup-close-feature-issue",
    "cleanup-delete",
    "cleanup-delete-command",
    "cleanup-close-rollout",
    # Rollback Steps
    "rollback",
)
"""Every step marker of the rollout issue, in document order."""

ISSUE_COMMAND_STEP_IDS: frozenset[str] = frozenset(
    {step for step in ISSUE_STEP_IDS if step.endswith("-command")} | {"rollback"}
)
"""Steps that carry a `/chatops run` command: the code span on the `*-command`
checkbox line, or, for `rollback`, the fenced block under its checkbox."""

# Every character str.splitlines() breaks on: the bot reads the issue with Python.
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")
# Block syntax that would act at the start of a line (list and task items,
# headings, block quotes, fences); a backslash makes its first character text.
_BLOCK_START = re.compile(r"^(?:[-+*>]|#{1,6}(?=[ \t]|$)|`{3}|~{3}|\[[ xX~]\])")
_ORDERED_ITEM = re.compile(r"^([0-9]{1,9})([.)])")

_COMMAND_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_URL = re.compile(r"^https?://[^\s()<>`]+$")


class Markdown(str):
    """Markdown the code built itself (a fenced block, a list); `md_inline` leaves it as is."""


def md_inline(value: object) -> str:
    """Make a value safe to interpolate into one line of Markdown.

    Line breaks become a space, so a value never starts a line of its own (no
    extra task item); `<!--` and `-->` become entities, so a value can neither
    add a step marker nor hide text; block syntax at the start (`- `, `1.`,
    `#`, `>`, fences, `[ ]`) is backslash-escaped, since a value may open a
    line or follow a bullet. Idempotent, so nested output is safe to pass again.
    """
    if isinstance(value, Markdown):
        return str(value)
    text = _LINE_BREAKS.sub(" ", str(value))
    text = text.replace("<!--", "&lt;!--").replace("-->", "--&gt;").strip()
    if _BLOCK_START.match(text):
        return "\\" + text
    return _ORDERED_ITEM.sub(r"\1\\\2", text, count=1)


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment for every template of the package, made on first use."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__ or "templates", "."),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML: see the module docstring
        finalize=md_inline,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md_inline"] = md_inline
    return env


def render(template_name: str, /, **context: object) -> str:
    """Render one template of this package; a variable it uses but is not given raises."""
    return environment().get_template(template_name).render(**context)


def _blank_to_none(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


@dataclass(frozen=True)
class IssueValues:
    """What the rollout issue says about one flag; None or () renders a placeholder.

    Usernames go without `@`, the channel without `#` (both are stripped if
    given). `summary` names what is rolled out, as in "This issue is to rollout
    <summary> on production" (default: "the feature"). The flag definition's
    `milestone` is deliberately not used: it is the milestone the flag was
    introduced in, while `release check <merge-request-url> <milestone>` needs
    the milestone the default-enabling or cleanup MR ships in, known only then.
    """

    flag_name: str
    group: str | None = None
    """The owning team's group label, such as `group::product intelligence`."""
    feature_issue_url: str | None = None
    introduced_by_url: str | None = None
    team_slack_channel: str | None = None
    dri_username: str | None = None
    pm_username: str | None = None
    merge_commit_sha: str | None = None
    actor_projects: tuple[str, ...] = ()
    actor_groups: tuple[str, ...] = ()
    actor_users: tuple[str, ...] = ()
    summary: str | None = None
    expectations: str | None = None
    stakeholders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.flag_name):
            raise ValueError(f"flag name {self.flag_name!r} does not match {NAME_PATTERN.pattern}")
        for name in ("group", "summary", "expectations", "feature_issue_url", "introduced_by_url"):
            object.__setattr__(self, name, _blank_to_none(getattr(self, name)))
        for name, prefix in (
            ("team_slack_channel", "#"),
            ("dri_username", "@"),
            ("pm_username", "@"),
        ):
            value = _blank_to_none(getattr(self, name))
            object.__setattr__(self, name, _blank_to_none(value.lstrip(prefix)) if value else None)
        for name in ("feature_issue_url", "introduced_by_url"):
            url = getattr(self, name)
            if url is not None and not _URL.match(url):
                raise ValueError(f"{name} {url!r} is not an http(s) URL without spaces")
        sha = _blank_to_none(self.merge_commit_sha)
        if sha is not None:
            sha = sha.lower()
            if not _SHA.match(sha):
                raise ValueError(f"merge_commit_sha {sha!r} is not a commit SHA")
        object.__setattr__(self, "merge_commit_sha", sha)
        for name in ("actor_projects", "actor_groups", "actor_users", "stakeholders"):
            entries = getattr(self, name)
            if isinstance(entries, str):
                raise TypeError(f"{name} must be a sequence of entries, not a string")
            entries = tuple(entry.strip() for entry in entries if entry.strip())
            if name != "stakeholders":
                for entry in entries:
                    if not _COMMAND_TOKEN.match(entry):
                        raise ValueError(f"{name} entry {entry!r} cannot go into a command")
            object.__setattr__(self, name, entries)

    @classmethod
    def from_definition(cls, definition: Definition, **overrides: Any) -> IssueValues:
        """Values from a flag definition, with keyword overrides for what it does not hold."""
        values: dict[str, Any] = {
            "flag_name": definition.name,
            "group": definition.group,
            "feature_issue_url": definition.feature_issue_url,
            "introduced_by_url": definition.introduced_by_url,
        }
        values.update(overrides)
        return cls(**values)

    def context(self) -> Mapping[str, object]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def issue_title(name: str) -> str:
    """The rollout issue's title, as GitLab's own rollout issues are named."""
    return f"[Feature flag] Rollout of `{name}`"


def render_issue(values: IssueValues) -> str:
    """The rollout issue's description, GitLab Markdown ending in a newline."""
    return render(ISSUE_TEMPLATE, **values.context(), template_version=TEMPLATE_VERSION)
