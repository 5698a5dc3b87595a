"""The GitLab side's branch of the error tree (`flags.errors` holds the root).

Library errors (python-gitlab's, requests') are translated here with
`raise ... from exc`, sorted by what the caller should do: retry later, give up
with the reason, or refuse the command because a name it gave does not exist.
"""

from __future__ import annotations

from flags.errors import Refusal, RolloutError


class GitLabError(RolloutError):
    """A GitLab call failed for good (not found, forbidden, invalid)."""


class TransientGitLabError(GitLabError):
    """A GitLab call failed in a way that may pass: retry later."""


class UnknownTarget(Refusal):
    """A project, group, user or namespace named in a command does not exist on GitLab."""
