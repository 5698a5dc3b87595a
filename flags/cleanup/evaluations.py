"""Finding the flag checks of a project, for the usage scan: read-only, with `ast`."""

from __future__ import annotations

import ast
from collections.abc import Mapping

from flags.cleanup.constants import _Constants, _discover_constants, _leaves
from flags.cleanup.imports import _Reader
from flags.cleanup.patterns import _STRING_ASSIGNMENT, _calls, _words
from flags.cleanup.sources import _is_python, _Source
from flags.cleanup.spellings import NAME_KEYWORDS, SPELLINGS, Evaluation


def find_evaluations(
    files: Mapping[str, str], *, spellings: Mapping[str, bool] = SPELLINGS
) -> list[Evaluation]:
    """Every flag check in the Python files whose name is a literal or a known constant.

    This only reads, so it uses `ast` (tens of times faster than libcst's metadata)
    with the same spellings and constants as the rewrite. Names are resolved by
    their imports alone: a local variable shadowing a constant is not noticed.
    """
    sources = {path: _Source.of(path, text) for path, text in files.items() if _is_python(path)}
    call = _calls(spellings)
    # Only what can matter: modules with a check, modules binding a string at top
    # level, and modules importing those names, to a fixpoint.
    chosen = {
        path: source
        for path, source in sources.items()
        if call.search(source.source) or _STRING_ASSIGNMENT.search(source.source)
    }
    constants = _discover_constants(chosen.values())
    seen: set[str] = set()
    while names := _leaves(constants) - seen:
        seen |= names
        word = _words(names)
        more = {
            path: source
            for path, source in sources.items()
            if path not in chosen and "import" in source.source and word.search(source.source)
        }
        if not more:
            break
        chosen.update(more)
        constants = _discover_constants(chosen.values())
    found: list[Evaluation] = []
    for source in chosen.values():
        if source.syntax is not None and call.search(source.source):
            finder = _EvaluationFinder(source, constants, spellings)
            finder.visit(source.syntax)
            found.extend(finder.found)
    return found


class _EvaluationFinder(_Reader):
    def __init__(
        self, module: _Source, constants: _Constants, spellings: Mapping[str, bool]
    ) -> None:
        super().__init__(module, constants)
        self.spellings = spellings
        self.found: list[Evaluation] = []

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        positive = self.spellings.get(called) if isinstance(called, str) else None
        argument: ast.expr | None = None
        if node.args and not isinstance(node.args[0], ast.Starred):
            argument = node.args[0]
        else:
            argument = next((k.value for k in node.keywords if k.arg in NAME_KEYWORDS), None)
        name = self.value(argument) if positive is not None and argument is not None else None
        if positive is not None and name is not None:
            self.found.append(Evaluation(self.module.path, node.lineno, name, positive))
        self.generic_visit(node)
