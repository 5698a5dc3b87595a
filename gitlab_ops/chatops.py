"""The whole ChatOps line a step or comment may carry: a `feature` command or a question.

    feature ...                      (`flags.grammar`)
    auto_deploy status SHA           has this commit reached each environment?
    release check MR_URL MILESTONE   is this merge request in a release of that milestone?

The questions are answered from GitLab's Deployments, repository and tags APIs
(`gitlab_ops.deployments`), so they live on this side of the `flags` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from flags import grammar
from flags.errors import Refusal
from flags.grammar import FeatureCommand


@dataclass(frozen=True)
class AutoDeployStatus:
    sha: str
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class ReleaseCheck:
    merge_request_url: str
    milestone: str
    text: str = field(default="", compare=False)


Question = AutoDeployStatus | ReleaseCheck
Command = FeatureCommand | Question


def parse(text: str, environments: Sequence[str]) -> Command:
    """Parse one ChatOps line (with or without `/chatops run`); raise Refusal if it cannot run."""
    placeholders = grammar.find_placeholders(text)
    if placeholders:
        raise grammar.placeholder_refusal(placeholders)
    words = grammar.tokens(text)
    if not words:
        raise Refusal("empty command")
    head = words[0].lower()
    if head == "feature":
        return grammar.parse(text, environments)
    if head == "auto_deploy":
        if len(words) != 3 or words[1] != "status":
            raise Refusal("usage: auto_deploy status SHA")
        if not re.fullmatch(r"[0-9a-fA-F]{7,40}", words[2]):
            raise Refusal(f"'{words[2]}' is not a commit SHA")
        return AutoDeployStatus(words[2].lower(), text=text)
    if head == "release":
        if len(words) != 4 or words[1] != "check":
            raise Refusal("usage: release check MR_URL MILESTONE")
        return ReleaseCheck(words[2], words[3], text=text)
    raise Refusal(f"unknown command '{words[0]}': use feature, auto_deploy or release")
