"""Module-level names bound to a string, followed through imports across modules."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable

from libcst.metadata import QualifiedName, QualifiedNameSource

from flags.cleanup.sources import Source, absolute_import, import_source, qualify


class Constants:
    """Module-level names bound once to a string, by qualified name ("pkg.mod.NAME")."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self._by_leaf: dict[str, list[str]] = {}

    def add(self, qualified: str, value: str) -> bool:
        if qualified in self.values:
            return False
        self.values[qualified] = value
        self._by_leaf.setdefault(qualified.rpartition(".")[2], []).append(qualified)
        return True

    def lookup(self, qualified: str, *, exact: bool) -> str | None:
        """The value of `qualified`; an import may name a module by a suffix of its path
        (`pkg.mod` for `src/pkg/mod.py`), so it matches when every candidate agrees."""
        if qualified in self.values:
            return self.values[qualified]
        if exact:
            return None
        values = {
            self.values[candidate]
            for candidate in self._by_leaf.get(qualified.rpartition(".")[2], ())
            if candidate.endswith("." + qualified)
        }
        return values.pop() if len(values) == 1 else None

    def value(self, module: Source, names: Collection[QualifiedName]) -> str | None:
        """The string a name or attribute read in `module` stands for, if a constant."""
        values = set()
        for qualified in names:
            if qualified.source is QualifiedNameSource.LOCAL:
                full = f"{module.name}.{qualified.name}" if module.name else qualified.name
                value = self.lookup(full, exact=True)
            elif qualified.source is QualifiedNameSource.IMPORT:
                value = self.lookup(absolute_import(qualified.name, module), exact=False)
            else:
                continue
            if value is not None:
                values.add(value)
        return values.pop() if len(values) == 1 else None


_Binding = ast.Assign | ast.AnnAssign | ast.ImportFrom | None


def module_bindings(module: Source) -> dict[str, list[_Binding]]:
    """What binds each module-level name (function and class bodies are other scopes).

    Each binding is its statement when it is a plain `NAME = value` or
    `from X import NAME`, else None (a loop target, `a, b = ...`, a `def`, ...).
    """
    found: dict[str, list[_Binding]] = {}

    def bind(name: str, node: _Binding) -> None:
        found.setdefault(name, []).append(node)

    def targets(expr: ast.expr) -> None:
        if isinstance(expr, ast.Name):
            bind(expr.id, None)
        elif isinstance(expr, ast.Tuple | ast.List):
            for element in expr.elts:
                targets(element)
        elif isinstance(expr, ast.Starred):
            targets(expr.value)

    def walk(statements: Iterable[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        bind(target.id, node)
                    else:
                        targets(target)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                bind(node.target.id, node if node.value is not None else None)
            elif isinstance(node, ast.AugAssign):
                targets(node.target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bind(alias.asname or alias.name.split(".")[0], None)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name != "*":
                        bind(alias.asname or alias.name, node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bind(node.name, None)
            elif isinstance(node, ast.For | ast.AsyncFor):
                targets(node.target)
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.While | ast.If):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                walk(node.body)
            elif isinstance(node, ast.Try | ast.TryStar):
                walk(node.body)
                for handler in node.handlers:
                    if handler.name:
                        bind(handler.name, None)
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)
            elif isinstance(node, ast.Match):
                for case in node.cases:
                    walk(case.body)

    if module.syntax is not None:
        walk(module.syntax.body)
    return found


def discover_constants(modules: Iterable[Source]) -> Constants:
    """Module-level names bound once to a string, then names importing them, to a fixpoint."""
    constants = Constants()
    imports: list[tuple[Source, str, str]] = []  # (module, bound name, imported name)
    for module in modules:
        for name, bindings in module_bindings(module).items():
            node = bindings[0]
            if len(bindings) != 1 or node is None:
                continue
            if isinstance(node, ast.ImportFrom):
                source = import_source(node, module)
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        imports.append((module, name, f"{source}.{alias.name}"))
            elif isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                constants.add(qualify(module, name), node.value.value)
    changed = True
    while changed:
        changed = False
        for module, name, imported in imports:
            value = constants.lookup(imported, exact=False)
            if value is not None:
                changed |= constants.add(qualify(module, name), value)
    return constants


def constant_names(constants: Constants, value: str | None = None) -> set[str]:
    """The names of the constants holding `value` (by default, any flag-like name)."""
    return {
        qualified.rpartition(".")[2]
        for qualified, held in constants.values.items()
        if held == value or (value is None and _FLAG_LIKE.match(held))
    }


_FLAG_LIKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
