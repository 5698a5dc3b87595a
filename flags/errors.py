"""The errors rollout-bot raises on purpose, as a small tree.

`RolloutError` is the root: its message is one line, written for the person
who typed the command or ticked the box, and shown as is. Below it,
`Refusal` means a command will not run and nothing changed. Packages above
`flags` add their own branches (`gitlab_ops.errors` for GitLab calls,
`webhook.verification` for deliveries) and translate library errors into
them with `raise ... from exc`, as python-gitlab's `exceptions.py` does.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Something rollout-bot will not or could not do; the message is one line."""


class Refusal(RolloutError):
    """A command that will not run; the message is one line, shown as is."""
