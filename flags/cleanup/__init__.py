"""The cleanup codemod: remove one feature flag from Python code, folding what follows.

A check of the flag is a call on a flag API, given the flag's name (a literal or a
constant holding it): by default `flags.enabled(F)`-style calls (a receiver named
`flags`, or anything imported from the `flags` package) and `Feature.enabled(F)`,
with the methods of `SPELLINGS`. A project declares its own in its
`pyproject.toml`, which `rewrite_project` reads from the files it is given::

    [tool.rollout-bot]
    flag-apis = ["myapp.features.is_on", "not myapp.features.is_off", "Feature.enabled"]

(`flags.cleanup.apis` says how an entry matches a call.) Anything else is not a
check: `widget.enabled("my_flag")` is left alone and is not a leftover.

Each check becomes a constant, then the code is simplified the way a careful
engineer would do it by hand:

- `not`, `and`, `or`, `is`/`==` against a bool literal and conditional expressions
  fold; `x or True` becomes `True` (and `x and False` becomes `False`) only when `x`
  has no side effects (`pure`), otherwise the expression is kept as written;
- `if`/`elif`/`else` keep the taken branch, dedented; a branch that can no longer
  run goes, comments and all; an `if` left with an empty body disappears when its
  test is pure, or is inverted when it has an `else`;
- `while False` loops, `assert True` and bare constant statements go; a `while` loop
  the flag kept running (its test would hold `True`: a kill switch) is left as it
  is, checks and all, and reported;
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

from flags.cleanup.apis import (
    DECLARATION_PATH,
    DEFAULT_APIS,
    FlagApi,
    FlagApis,
    declared_apis,
)
from flags.cleanup.evaluations import Calls, find_calls, find_evaluations
from flags.cleanup.fold import pure
from flags.cleanup.leftovers import fragment
from flags.cleanup.rewrite import rewrite_project, rewrite_source
from flags.cleanup.spellings import (
    BAD_DECLARATION,
    BUILT_AT_RUN_TIME,
    CHECK_KEPT,
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
    WHILE_LOOP,
    Evaluation,
    Leftover,
    RewriteResult,
)

__all__ = [
    "BAD_DECLARATION",
    "BUILT_AT_RUN_TIME",
    "CHECK_KEPT",
    "CONSTANT_KEPT",
    "CONSTANT_USED",
    "DECLARATION_PATH",
    "DEFAULT_APIS",
    "IN_COMMENT",
    "IN_STRING",
    "NAME_KEYWORDS",
    "PASSED_TO",
    "REWRITE_FAILED",
    "SPELLINGS",
    "UNPARSABLE",
    "USED_ELSEWHERE",
    "WHILE_LOOP",
    "Calls",
    "Evaluation",
    "FlagApi",
    "FlagApis",
    "Leftover",
    "RewriteResult",
    "declared_apis",
    "find_calls",
    "find_evaluations",
    "fragment",
    "pure",
    "rewrite_project",
    "rewrite_source",
]
