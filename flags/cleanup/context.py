"""What a rewrite pass works with.

What it is given: the flag and the project (`Context`), the names to remove (`Plan`);
and what it records: statements replaced or removed (`Edit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from flags.cleanup.apis import FlagApis
from flags.cleanup.constants import Constants


@dataclass(frozen=True)
class Context:
    flag: str
    apis: FlagApis
    constants: Constants
    project: bool  # every module is known: `is_external` is the whole truth
    is_external: Callable[[str], bool] = lambda qualified: False


@dataclass
class Plan:
    """What a pruning pass removes, by id of nodes of the tree it visits."""

    nodes: set[int] = field(default_factory=set)  # statements: `x = ...`, `def`, `class`
    aliases: dict[int, set[int]] = field(default_factory=dict)  # import id -> alias indexes

    def __bool__(self) -> bool:
        return bool(self.nodes or self.aliases)


@dataclass(frozen=True)
class Edit:
    """A statement replaced by others (inlined from a branch), or removed when empty."""

    statements: Sequence[cst.BaseStatement]
    trailing: Sequence[cst.EmptyLine] = ()
