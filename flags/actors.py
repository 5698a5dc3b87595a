"""Turning `--project=`, `--group=`, `--user=`, `--namespace=` targets into Flipper ids."""

from __future__ import annotations

from typing import Protocol

from flags.errors import Refusal
from flags.grammar import TARGET_KINDS, Target


class Resolver(Protocol):
    def resolve(self, target: Target) -> str:
        """`Project:123` and the like; raises Refusal when the target cannot be found."""


class NumericResolver:
    """Without a GitLab connection only numeric ids can be trusted."""

    def resolve(self, target: Target) -> str:
        if target.ref.isdigit():
            return f"{TARGET_KINDS[target.kind]}:{int(target.ref)}"
        raise Refusal(
            f"{target}: resolving paths and usernames needs ROLLOUT_BOT_GITLAB_URL; "
            f"without it give the numeric id, such as --{target.kind}=123"
        )
