"""What counts as a flag check, and what the cleanup hands back: results, leftovers, reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The methods of the default flag APIs (`flags/cleanup/apis.py` says which receivers),
# and the constant a check of a removed (fully enabled) flag becomes:
# `flags.enabled(F, actor)`, `self.flags.enabled(name=F)`, `Feature.disabled(F)`, ...
SPELLINGS: Mapping[str, bool] = MappingProxyType(
    {
        "enabled": True,  # Flags.enabled(name, actor): flags/engine.py
        "is_enabled": True,  # the Unleash and Flipper Python clients
        "disabled": False,  # GitLab's Feature.disabled?
        "is_disabled": False,
    }
)
# Keywords that pass the flag's name: `enabled(name=F)`.
NAME_KEYWORDS = frozenset({"name", "feature_name", "flag"})

# Leftover reasons: the cleanup merge request lists them as they are.
UNPARSABLE = "cannot parse this file ({error}): check it by hand"
BUILT_AT_RUN_TIME = "the flag's name may be built at run time here: check it by hand"
PASSED_TO = "the flag's name is passed to `{callee}`, which is not a flag check"
CONSTANT_KEPT = "`{name}` holds the flag's name and is still used or exported"
CONSTANT_USED = "`{name}` holds the flag's name and is used outside a flag check"
USED_ELSEWHERE = "the flag's name is used outside a flag check"
IN_STRING = "the flag's name is mentioned in a string"
IN_COMMENT = "the flag's name is mentioned in a comment"
REWRITE_FAILED = "the codemod could not rewrite this file: remove the flag by hand"
WHILE_LOOP = (
    "a `while` loop tests the flag: as `True` it would never stop on its test, "
    "so it is left as it is: remove the flag by hand"
)
CHECK_KEPT = "this check of the flag stays with the `while` loop that depends on it"
BAD_DECLARATION = (
    "cannot read this declaration of flag APIs ({error}): checks made on them were not rewritten"
)


@dataclass(frozen=True)
class Leftover:
    """A reference the codemod could not rewrite, at a line of the rewritten file."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class RewriteResult:
    code: str
    changed: bool
    leftovers: list[Leftover] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """A flag check whose name is known statically (a literal or a constant)."""

    path: str
    line: int
    name: str
    positive: bool
