"""What a module reads from other modules, by the names its imports give."""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping

from flags.cleanup.constants import _Constants
from flags.cleanup.sources import _import_source, _qualify, _Source


class _Reader(ast.NodeVisitor):
    """Reads names the way a module's imports make them: `m.X` -> "pkg.mod.X".

    Syntactic (scope analysis is slow): a local variable shadowing an import or a
    constant is not noticed, which only errs towards keeping and reporting.
    """

    def __init__(self, module: _Source, constants: _Constants) -> None:
        self.module = module
        self.constants = constants
        self.aliases: dict[str, str] = {}  # local name -> what it was imported as
        self.imported: set[str] = set()  # what `from X import N` statements import
        for node in ast.walk(module.syntax) if module.syntax is not None else ():
            if isinstance(node, ast.Import):
                for alias in node.names:
                    head = alias.name.split(".")[0]
                    self.aliases[alias.asname or head] = alias.name if alias.asname else head
            elif isinstance(node, ast.ImportFrom):
                source = _import_source(node, module)
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                    self.imported.add(f"{source}.{alias.name}")

    @staticmethod
    def _chain(expr: ast.expr) -> list[str] | None:
        chain: list[str] = []
        while isinstance(expr, ast.Attribute):
            chain.insert(0, expr.attr)
            expr = expr.value
        return [expr.id, *chain] if isinstance(expr, ast.Name) else None

    def qualified(self, expr: ast.expr) -> tuple[str, bool] | None:
        """The qualified name `expr` reads, and whether it is this module's own."""
        chain = self._chain(expr)
        if chain is None:
            return None
        head, *rest = chain
        if head in self.aliases:
            return ".".join([self.aliases[head], *rest]), False
        return _qualify(self.module, ".".join(chain)), True

    def value(self, expr: ast.expr) -> str | None:
        """The string `expr` holds: a literal, or a constant read by name."""
        if isinstance(expr, ast.Constant):
            return expr.value if isinstance(expr.value, str) else None
        found = self.qualified(expr)
        return None if found is None else self.constants.lookup(found[0], exact=found[1])


def _imported_names(module: _Source) -> set[str]:
    """Qualified names `module` reads from other modules: imports and attribute chains."""
    reader = _Reader(module, _Constants())
    names = set(reader.imported)
    for node in ast.walk(module.syntax) if module.syntax is not None else ():
        found = reader.qualified(node) if isinstance(node, ast.Attribute) else None
        if found is not None and not found[1]:
            parts = found[0].split(".")
            names.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return names


def _external(
    reads: Mapping[str, set[str]], path: str, words: Collection[str] = frozenset()
) -> Callable[[str], bool]:
    """Does a module other than `path` import this qualified name?

    `reads` are the analysed modules' imports; `words` the identifiers of the others,
    which can import a name only if they spell both it and its module.
    """
    others: set[str] = set().union(*(names for p, names in reads.items() if p != path))

    def imported(qualified: str) -> bool:
        parts = qualified.split(".")
        if any(".".join(parts[i:]) in others for i in range(len(parts) - 1)):
            return True
        return len(parts) > 1 and parts[-1] in words and parts[-2] in words

    return imported
