"""The cleanup codemod: remove one feature flag from Python code, folding what follows.

A check of the flag becomes a constant (`SPELLINGS` lists the calls that count as a
check), then the code is simplified the way a careful engineer would do it by hand:

- `not`, `and`, `or`, `is`/`==` against a bool literal and conditional expressions
  fold; `x or True` becomes `True` (and `x and False` becomes `False`) only when `x`
  has no side effects (`pure`), otherwise the expression is kept as written;
- `if`/`elif`/`else` keep the taken branch, dedented; a branch that can no longer
  run goes, comments and all; an `if` left with an empty body disappears when its
  test is pure, or is inverted when it has an `else`;
- `while False` loops, `assert True` and bare constant statements go;
- a branch kept inline that ends in `return`/`raise`/`continue`/`break` makes the
  rest of its block unreachable, and that code goes too;
- a local variable holding the check (`on = flags.enabled(F)`) is inlined;
- names the rewrite left unused go: imports, the constant holding the flag's name,
  local variables with pure values, private module-level helpers and nested
  functions. Only names that were used before the rewrite are touched, and never a
  name listed in `__all__` or (with `rewrite_project`) imported by another module.

Everything else keeps its formatting and comments: libcst gives back the source
unchanged where nothing was edited. What cannot be rewritten (a name built at run
time, the name passed to something that is not a check, mentions in strings and
comments) is reported as a `Leftover`, with the line in the rewritten file, for the
cleanup merge request's checklist.

`rewrite_source` sees one file (the file is the whole program: constants imported
from elsewhere are unknown). `rewrite_project` sees a tree: it resolves constants
bound to the flag's name across modules and keeps a name another module still uses.
"""

from flags.cleanup.evaluations import find_evaluations
from flags.cleanup.fold import pure
from flags.cleanup.leftovers import fragment
from flags.cleanup.rewrite import rewrite_project, rewrite_source
from flags.cleanup.spellings import (
    BUILT_AT_RUN_TIME,
    CONSTANT_KEPT,
    CONSTANT_USED,
    IN_COMMENT,
    IN_STRING,
    NAME_KEYWORDS,
    PASSED_TO,
    REWRITE_FAILED,
    SPELLINGS,
    UNPARSABLE,
    USED_ELSEWHERE,
    Evaluation,
    Leftover,
    RewriteResult,
)

__all__ = [
    "BUILT_AT_RUN_TIME",
    "CONSTANT_KEPT",
    "CONSTANT_USED",
    "IN_COMMENT",
    "IN_STRING",
    "NAME_KEYWORDS",
    "PASSED_TO",
    "REWRITE_FAILED",
    "SPELLINGS",
    "UNPARSABLE",
    "USED_ELSEWHERE",
    "Evaluation",
    "Leftover",
    "RewriteResult",
    "find_evaluations",
    "fragment",
    "pure",
    "rewrite_project",
    "rewrite_source",
]
