"""Python files as the cleanup reads them: with `ast` (fast) or libcst (to rewrite).

Also how a file's path names its module, and how its imports resolve.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath

import libcst as cst
from libcst.metadata import MetadataWrapper

from flags.cleanup.spellings import UNPARSABLE, Leftover

EMPTY_MODULE = cst.Module(body=[])


@dataclass
class Source:
    """A Python file, read with `ast` (fast) to find bindings and checks."""

    path: str
    source: str
    name: str  # dotted, from the path: "app/views.py" -> "app.views"
    is_package: bool

    @classmethod
    def of(cls, path: str, source: str) -> Source:
        return cls(path, source, *_module_name(path))

    @cached_property
    def syntax(self) -> ast.Module | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid escapes and the like: not ours to report
                return ast.parse(self.source, self.path)
        except (SyntaxError, ValueError):
            return None


@dataclass
class ParsedModule(Source):
    """A Python file parsed with libcst, to be rewritten."""

    tree: cst.Module

    @cached_property
    def wrapper(self) -> MetadataWrapper:
        return MetadataWrapper(self.tree, unsafe_skip_copy=True)


def _module_name(path: str) -> tuple[str, bool]:
    """The dotted module name a path stands for, and whether it is a package."""
    parts = [p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("/", ".", "..")]
    if parts:
        parts[-1] = parts[-1].rsplit(".", 1)[0]
    is_package = bool(parts) and parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def parse_module(path: str, source: str) -> ParsedModule | Leftover:
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return Leftover(path, exc.raw_line, UNPARSABLE.format(error=exc.message))
    return ParsedModule(path, source, *_module_name(path), tree=tree)


def absolute_import(name: str, module: Source) -> str:
    """`name` as imported by `module`, with a relative import resolved."""
    if not name.startswith("."):
        return name
    dots = len(name) - len(name.lstrip("."))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(dots - 1):
        package = package.rpartition(".")[0]
    return ".".join(part for part in (package, name[dots:]) if part)


def import_from_module(node: cst.ImportFrom) -> str:
    dotted = EMPTY_MODULE.code_for_node(node.module) if node.module is not None else ""
    return "." * len(node.relative) + dotted


def import_source(node: ast.ImportFrom, module: Source) -> str:
    return absolute_import("." * node.level + (node.module or ""), module)


def qualify(module: Source, name: str) -> str:
    return f"{module.name}.{name}" if module.name else name


class _TargetCollector(cst.CSTVisitor):
    """Single-name assignments (`x = value`, `x: T = value`) by their target node."""

    def __init__(self) -> None:
        self.assigns: dict[int, cst.Assign | cst.AnnAssign] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            self.assigns[id(node.targets[0].target)] = node

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name) and node.value is not None:
            self.assigns[id(node.target)] = node


def single_assignments(tree: cst.Module) -> dict[int, cst.Assign | cst.AnnAssign]:
    collector = _TargetCollector()
    tree.visit(collector)
    return collector.assigns
