"""What a rewrite pass works with.

What it is given: the flag and the project (`_Context`), the names to remove (`_Plan`);
and what it records: statements replaced or removed (`_Edit`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst

from flags.cleanup.constants import _Constants


@dataclass(frozen=True)
class _Context:
    flag: str
    spellings: Mapping[str, bool]
    constants: _Constants
    project: bool  # every module is known: `is_external` is the whole truth
    is_external: Callable[[str], bool] = lambda qualified: False


@dataclass
class _Plan:
    """What a pruning pass removes, by id of nodes of the tree it visits."""

    nodes: set[int] = field(default_factory=set)  # statements: `x = ...`, `def`, `class`
    aliases: dict[int, set[int]] = field(default_factory=dict)  # import id -> alias indexes

    def __bool__(self) -> bool:
        return bool(self.nodes or self.aliases)


@dataclass(frozen=True)
class _Edit:
    """A statement replaced by others (inlined from a branch), or removed when empty."""

    statements: Sequence[cst.BaseStatement]
    trailing: Sequence[cst.EmptyLine] = ()
