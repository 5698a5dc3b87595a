"""What a module reads from other modules, by the names its imports give."""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping

from flags.cleanup.constants import Constants
from flags.cleanup.sources import Source, import_source, qualify


def chain_of(expr: ast.expr) -> tuple[str, ...] | None:
    """The dotted name `expr` spells (`self.flags` -> ("self", "flags")), if it is one."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.insert(0, expr.attr)
        expr = expr.value
    return (expr.id, *parts) if isinstance(expr, ast.Name) else None


class ModuleNames:
    """What a module's names stand for, syntactically: its imports, and the classes of
    the names it annotates (`flags: Flags`) or builds (`features = Features(...)`).

    By name over the whole module (scope analysis is slow): a name given two
    different classes in two places has none.
    """

    def __init__(self, module: Source) -> None:
        self.aliases: dict[str, str] = {}  # local name -> what it was imported as
        self.imported: set[str] = set()  # what `from X import N` statements import
        self.classes: dict[str, str | None] = {}  # "features", "self.flags" -> its class
        nodes = list(ast.walk(module.syntax)) if module.syntax is not None else []
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    head = alias.name.split(".")[0]
                    self.aliases[alias.asname or head] = alias.name if alias.asname else head
            elif isinstance(node, ast.ImportFrom):
                source = import_source(node, module)
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                    self.imported.add(f"{source}.{alias.name}")
        for node in nodes:
            if isinstance(node, ast.arg) and node.annotation is not None:
                self._bind((node.arg,), self._annotated(node.annotation))
            elif isinstance(node, ast.AnnAssign):
                self._bind(chain_of(node.target), self._annotated(node.annotation))
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                if isinstance(node.value, ast.Call):
                    built = chain_of(node.value.func)
                    self._bind(chain_of(node.targets[0]), self.resolve(built) if built else None)

    def resolve(self, parts: tuple[str, ...]) -> str | None:
        """The qualified name a dotted name stands for, when its head is imported."""
        head = self.aliases.get(parts[0]) if parts else None
        return None if head is None else ".".join([head, *parts[1:]])

    def class_of(self, parts: tuple[str, ...]) -> str | None:
        return self.classes.get(".".join(parts))

    def _annotated(self, annotation: ast.expr) -> str | None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:  # a quoted annotation: "Flags"
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            # `Flags | None`: the class that is not None.
            sides = [s for s in (annotation.left, annotation.right) if not _is_none(s)]
            return self._annotated(sides[0]) if len(sides) == 1 else None
        parts = chain_of(annotation)
        return self.resolve(parts) if parts is not None else None

    def _bind(self, target: tuple[str, ...] | None, qualified: str | None) -> None:
        if target is None:
            return
        key = ".".join(target)
        if key in self.classes and self.classes[key] != qualified:
            self.classes[key] = None
        else:
            self.classes[key] = qualified


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


class Reader(ast.NodeVisitor):
    """Reads names the way a module's imports make them: `m.X` -> "pkg.mod.X".

    Syntactic (scope analysis is slow): a local variable shadowing an import or a
    constant is not noticed, which only errs towards keeping and reporting.
    """

    def __init__(self, module: Source, constants: Constants) -> None:
        self.module = module
        self.constants = constants
        self.names = ModuleNames(module)

    def qualified(self, expr: ast.expr) -> tuple[str, bool] | None:
        """The qualified name `expr` reads, and whether it is this module's own."""
        chain = chain_of(expr)
        if chain is None:
            return None
        imported = self.names.resolve(chain)
        if imported is not None:
            return imported, False
        return qualify(self.module, ".".join(chain)), True

    def value(self, expr: ast.expr) -> str | None:
        """The string `expr` holds: a literal, or a constant read by name."""
        if isinstance(expr, ast.Constant):
            return expr.value if isinstance(expr.value, str) else None
        found = self.qualified(expr)
        return None if found is None else self.constants.lookup(found[0], exact=found[1])


def imported_names(module: Source) -> set[str]:
    """Qualified names `module` reads from other modules: imports and attribute chains."""
    reader = Reader(module, Constants())
    names = set(reader.names.imported)
    for node in ast.walk(module.syntax) if module.syntax is not None else ():
        found = reader.qualified(node) if isinstance(node, ast.Attribute) else None
        if found is not None and not found[1]:
            parts = found[0].split(".")
            names.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return names


def imported_elsewhere(
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
