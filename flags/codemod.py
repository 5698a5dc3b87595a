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

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath
from types import MappingProxyType

import libcst as cst
from libcst.metadata import (
    Assignment,
    BaseAssignment,
    ClassScope,
    ComprehensionScope,
    GlobalScope,
    ImportAssignment,
    MetadataWrapper,
    QualifiedName,
    QualifiedNameProvider,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
)

# The calls that evaluate a flag, by the name of the function or method called, and
# the constant a check of a removed (fully enabled) flag becomes:
# `enabled(F)`, `flags.enabled(F, actor)`, `self.flags.enabled(name=F)`, ...
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

_EMPTY_MODULE = cst.Module(body=[])
_MAX_PASSES = 20


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


def rewrite_source(
    source: str,
    flag: str,
    *,
    path: str = "<string>",
    spellings: Mapping[str, bool] = SPELLINGS,
) -> RewriteResult:
    """Remove `flag` from one file, treating the file as the whole program."""
    module = _parse(path, source)
    if isinstance(module, Leftover):
        return RewriteResult(source, False, [module] if flag in source else [])
    context = _Context(flag, spellings, _discover_constants([module]), project=False)
    return _rewrite_module(module, context)[0]


def rewrite_project(
    files: Mapping[str, str],
    flag: str,
    *,
    spellings: Mapping[str, bool] = SPELLINGS,
) -> dict[str, RewriteResult]:
    """Remove `flag` from every Python file of `files` (path -> text); other files are ignored.

    Constants bound to the flag's name are followed through imports across files, and
    a module-level name is kept while another module still imports it.
    """
    sources = {path: text for path, text in files.items() if _is_python(path)}
    results: dict[str, RewriteResult] = {}
    parsed: dict[str, _Module] = {}

    def parse(paths: Iterable[str]) -> bool:
        new = False
        for path in list(paths):
            module = _parse(path, sources[path])
            if isinstance(module, Leftover):
                found = [module] if flag in sources[path] else []
                results[path] = RewriteResult(sources[path], False, found)
            else:
                parsed[path] = module
                new = True
        return new

    # libcst's metadata is slow (seconds per megabyte), so only modules that can
    # hold the flag are analysed: those spelling its name, then those naming a
    # constant bound to it (importing it, reading `module.NAME`), to a fixpoint.
    parse(path for path, text in sources.items() if flag in text)
    constants = _discover_constants(parsed.values())
    seen: set[str] = set()
    while names := _leaves(constants, flag) - seen:
        seen |= names
        word = _words(names)
        unparsed = [p for p in sources if p not in parsed and p not in results]
        if not parse(p for p in unparsed if word.search(sources[p])):
            break
        constants = _discover_constants(parsed.values())

    # Other modules can only import a name of ours if they spell it and our module.
    words = _identifiers(t for p, t in sources.items() if p not in parsed)
    modules = list(parsed.values())
    # Start from what the modules import today (a superset), and shrink: removing a
    # name can only remove imports elsewhere, so this settles within len(modules) rounds.
    reads = {m.path: _imported_names(m) for m in modules}
    outputs: dict[str, tuple[RewriteResult, _Source]] = {}
    asked: dict[str, dict[str, bool]] = {}  # per module: what it asked `is_external`
    for _ in range(len(modules) + 2):
        for module in modules:
            external = _external(reads, module.path, words)
            previous = asked.get(module.path)
            if previous is not None and all(external(q) == a for q, a in previous.items()):
                continue  # same answers, same rewrite
            answers: dict[str, bool] = {}
            asked[module.path] = answers

            def recorded(
                qualified: str,
                external: Callable[[str], bool] = external,
                answers: dict[str, bool] = answers,
            ) -> bool:
                answers[qualified] = external(qualified)
                return answers[qualified]

            context = _Context(flag, spellings, constants, True, recorded)
            outputs[module.path] = _rewrite_module(module, context)
        new_reads = {m.path: _imported_names(outputs[m.path][1]) for m in modules}
        if new_reads == reads:
            break
        reads = new_reads
    results.update({path: result for path, (result, _) in outputs.items()})

    mentions = _mentions(flag)
    context = _Context(flag, spellings, constants, True)
    for path, text in sources.items():
        if path in results:
            continue
        found = _leftovers(_Source.of(path, text), context) if mentions.search(text) else []
        results[path] = RewriteResult(text, False, found)
    return {path: results[path] for path in files if path in results}


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


def pure(expr: cst.BaseExpression) -> bool:
    """Can `expr` be dropped without losing a side effect?

    Names, attribute reads, literals, and operators, comparisons, conditionals and
    containers over those. Attribute reads and operators are assumed free of side
    effects (properties and operator overloads that do work are rare in conditions).
    """
    if isinstance(
        expr,
        cst.Name | cst.SimpleString | cst.Integer | cst.Float | cst.Imaginary | cst.Ellipsis,
    ):
        return True
    if isinstance(expr, cst.ConcatenatedString):
        return pure(expr.left) and pure(expr.right)
    if isinstance(expr, cst.FormattedString):
        return all(
            pure(part.expression)
            for part in expr.parts
            if isinstance(part, cst.FormattedStringExpression)
        )
    if isinstance(expr, cst.Attribute):
        return pure(expr.value)
    if isinstance(expr, cst.UnaryOperation):
        return pure(expr.expression)
    if isinstance(expr, cst.BooleanOperation | cst.BinaryOperation):
        return pure(expr.left) and pure(expr.right)
    if isinstance(expr, cst.Comparison):
        return pure(expr.left) and all(pure(t.comparator) for t in expr.comparisons)
    if isinstance(expr, cst.IfExp):
        return pure(expr.test) and pure(expr.body) and pure(expr.orelse)
    if isinstance(expr, cst.Tuple | cst.List | cst.Set):
        return all(pure(element.value) for element in expr.elements)
    if isinstance(expr, cst.Dict):
        return all(
            isinstance(element, cst.DictElement) and pure(element.key) and pure(element.value)
            for element in expr.elements
        )
    return False


# --- modules and constants ------------------------------------------------------


@dataclass
class _Source:
    """A Python file, read with `ast` (fast) to find bindings and checks."""

    path: str
    source: str
    name: str  # dotted, from the path: "app/views.py" -> "app.views"
    is_package: bool

    @classmethod
    def of(cls, path: str, source: str) -> _Source:
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
class _Module(_Source):
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


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _parse(path: str, source: str) -> _Module | Leftover:
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return Leftover(path, exc.raw_line, UNPARSABLE.format(error=exc.message))
    return _Module(path, source, *_module_name(path), tree=tree)


def _absolute(name: str, module: _Source) -> str:
    """`name` as imported by `module`, with a relative import resolved."""
    if not name.startswith("."):
        return name
    dots = len(name) - len(name.lstrip("."))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(dots - 1):
        package = package.rpartition(".")[0]
    return ".".join(part for part in (package, name[dots:]) if part)


def _import_from_module(node: cst.ImportFrom) -> str:
    dotted = _EMPTY_MODULE.code_for_node(node.module) if node.module is not None else ""
    return "." * len(node.relative) + dotted


def _literal(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString | cst.ConcatenatedString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


class _Constants:
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

    def value(self, module: _Source, names: Collection[QualifiedName]) -> str | None:
        """The string a name or attribute read in `module` stands for, if a constant."""
        values = set()
        for qualified in names:
            if qualified.source is QualifiedNameSource.LOCAL:
                full = f"{module.name}.{qualified.name}" if module.name else qualified.name
                value = self.lookup(full, exact=True)
            elif qualified.source is QualifiedNameSource.IMPORT:
                value = self.lookup(_absolute(qualified.name, module), exact=False)
            else:
                continue
            if value is not None:
                values.add(value)
        return values.pop() if len(values) == 1 else None


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


def _assigns(tree: cst.Module) -> dict[int, cst.Assign | cst.AnnAssign]:
    collector = _TargetCollector()
    tree.visit(collector)
    return collector.assigns


_Binding = ast.Assign | ast.AnnAssign | ast.ImportFrom | None


def _module_bindings(module: _Source) -> dict[str, list[_Binding]]:
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


def _import_source(node: ast.ImportFrom, module: _Source) -> str:
    return _absolute("." * node.level + (node.module or ""), module)


def _discover_constants(modules: Iterable[_Source]) -> _Constants:
    """Module-level names bound once to a string, then names importing them, to a fixpoint."""
    constants = _Constants()
    imports: list[tuple[_Source, str, str]] = []  # (module, bound name, imported name)
    for module in modules:
        for name, bindings in _module_bindings(module).items():
            node = bindings[0]
            if len(bindings) != 1 or node is None:
                continue
            if isinstance(node, ast.ImportFrom):
                source = _import_source(node, module)
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        imports.append((module, name, f"{source}.{alias.name}"))
            elif isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                constants.add(_qualify(module, name), node.value.value)
    changed = True
    while changed:
        changed = False
        for module, name, imported in imports:
            value = constants.lookup(imported, exact=False)
            if value is not None:
                changed |= constants.add(_qualify(module, name), value)
    return constants


def _leaves(constants: _Constants, value: str | None = None) -> set[str]:
    """The names of the constants holding `value` (by default, any flag-like name)."""
    return {
        qualified.rpartition(".")[2]
        for qualified, held in constants.values.items()
        if held == value or (value is None and _FLAG_LIKE.match(held))
    }


def _words(names: Iterable[str]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, sorted(names)))})\b")


def _identifiers(texts: Iterable[str]) -> set[str]:
    return {word for text in texts for word in _IDENTIFIER.findall(text)}


def _mentions(flag: str) -> re.Pattern[str]:
    """Text a leftover can be in: the name, or a run of its words glued to `_`, `{`, `}`."""
    words = flag.split("_")
    runs = {"_".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
    alternatives = "|".join(sorted((re.escape(r) for r in runs if len(r) >= 3), key=len))
    if not alternatives:
        return re.compile(re.escape(flag))
    return re.compile(rf"{re.escape(flag)}|[_{{}}](?:{alternatives})|(?:{alternatives})[_{{}}]")


def _calls(spellings: Mapping[str, bool]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, spellings))})\s*\(")


_STRING_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*\s*(?::[^=\n]*)?=\s*[rRuU]?['\"]", re.MULTILINE)
_FLAG_LIKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _qualify(module: _Source, name: str) -> str:
    return f"{module.name}.{name}" if module.name else name


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


# --- checks -----------------------------------------------------------------------


def _spelling(call: cst.Call, spellings: Mapping[str, bool]) -> bool | None:
    if isinstance(call.func, cst.Name):
        return spellings.get(call.func.value)
    if isinstance(call.func, cst.Attribute):
        return spellings.get(call.func.attr.value)
    return None


def _name_argument(call: cst.Call) -> cst.BaseExpression | None:
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in NAME_KEYWORDS:
            return arg.value
    return None


@dataclass(frozen=True)
class _Context:
    flag: str
    spellings: Mapping[str, bool]
    constants: _Constants
    project: bool  # every module is known: `is_external` is the whole truth
    is_external: Callable[[str], bool] = lambda qualified: False


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


# --- the rewrite ------------------------------------------------------------------


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


_ATOMS = (
    cst.Name,
    cst.Attribute,
    cst.Call,
    cst.Subscript,
    cst.SimpleString,
    cst.FormattedString,
    cst.List,
    cst.Dict,
    cst.Set,
)


# Expressions whose parentheses are part of them (a tuple, a generator) or required.
_PARENTHESIZED = (cst.Tuple, cst.GeneratorExp, cst.NamedExpr, cst.Yield)


def _code(node: cst.CSTNode) -> str:
    return _EMPTY_MODULE.code_for_node(node)


def _blank(line: cst.EmptyLine) -> bool:
    return line.comment is None


def _detached(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """The lines above a removed statement that are not about it.

    Comments right above a statement go with it; what a blank line separates from
    it (a section comment, the blank line itself) stays.
    """
    last_blank = max((i for i, line in enumerate(lines) if _blank(line)), default=-1)
    return list(lines[: last_blank + 1])


def _join(before: Sequence[cst.EmptyLine], after: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """`before` then `after`, without doubling the blank lines where they meet."""
    head = list(before)
    if after and _blank(after[0]):
        while head and _blank(head[-1]):
            head.pop()
    return [*head, *after]


def _leading(statement: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    assert isinstance(statement, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    return statement.leading_lines


def _terminates(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and isinstance(
        statement.body[-1], cst.Return | cst.Raise | cst.Continue | cst.Break
    )


def _negate(test: cst.BaseExpression) -> cst.BaseExpression:
    """`not test`, spelled as a person would: `a != b` rather than `not a == b`."""
    swaps: dict[type[cst.BaseCompOp], Callable[[], cst.BaseCompOp]] = {
        cst.Equal: cst.NotEqual,
        cst.NotEqual: cst.Equal,
        cst.Is: cst.IsNot,
        cst.IsNot: cst.Is,
        cst.In: cst.NotIn,
        cst.NotIn: cst.In,
    }
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return test.expression
    if (
        isinstance(test, cst.Comparison)
        and not test.lpar
        and len(test.comparisons) == 1
        and type(test.comparisons[0].operator) in swaps
    ):
        target = test.comparisons[0]
        operator = swaps[type(target.operator)]()
        return test.with_changes(comparisons=[target.with_changes(operator=operator)])
    if isinstance(test, _ATOMS) or test.lpar:
        return cst.UnaryOperation(operator=cst.Not(), expression=test)
    return cst.UnaryOperation(
        operator=cst.Not(),
        expression=test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
    )


class _Rewriter(cst.CSTTransformer):
    """One pass: checks become constants and fold (first pass), or a `_Plan` is removed."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, ScopeProvider)

    def __init__(self, context: _Context, module: _Module, plan: _Plan | None = None) -> None:
        super().__init__()
        self.context = context
        self.module = module
        self.plan = plan or _Plan()
        self.rewriting = plan is None
        self.touched = False
        # Nodes this pass made, by id; `_keep` holds them so no id is reused.
        self._keep: list[cst.CSTNode] = []
        self._constants: dict[int, bool] = {}  # True/False standing for a check
        self._empty: set[int] = set()  # `pass` put in a block left empty
        # Expressions holding parentheses that were not theirs (a folded check's, or
        # those of an expression folded away): `_Parens` drops them where not needed.
        self.marked: set[int] = set()
        self._edits: dict[int, _Edit] = {}
        self._elifs: set[int] = set()
        self._inlined: dict[int, bool] = {}  # local variable reads -> the check's value

    # -- constants

    def _constant(self, value: bool, like: cst.BaseExpression | None = None) -> cst.Name:
        # The parentheses stay for now: libcst checks each node as it is rebuilt, and
        # `not(enabled(F))` must not become `notTrue` before the `not` folds.
        node = cst.Name("True" if value else "False")
        if like is not None and like.lpar:
            node = node.with_changes(lpar=like.lpar, rpar=like.rpar)
            self.marked.add(id(node))
        self._keep.append(node)
        self._constants[id(node)] = value
        self.touched = True
        return node

    def _value(self, node: cst.CSTNode) -> bool | None:
        return self._constants.get(id(node))

    def _check(self, call: cst.Call) -> bool | None:
        """The constant a call becomes: a check of the flag, else None."""
        positive = _spelling(call, self.context.spellings)
        argument = _name_argument(call) if positive is not None else None
        if positive is None or argument is None:
            return None
        name = _literal(argument)
        if name is None and isinstance(argument, cst.Name | cst.Attribute):
            names = self.get_metadata(QualifiedNameProvider, argument, set())
            name = self.context.constants.value(self.module, names)
        return positive if name == self.context.flag else None

    def _static(self, expr: cst.BaseExpression) -> bool | None:
        if isinstance(expr, cst.Call):
            return self._check(expr)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            inner = self._static(expr.expression)
            return None if inner is None else not inner
        return None

    def visit_Module(self, node: cst.Module) -> None:
        if not self.rewriting:
            return
        # A local variable assigned the check once (`on = flags.enabled(F, actor)`)
        # is read as the check: its reads become the constant, the assignment goes.
        assigns = _assigns(node)
        for scope in {s for s in self.metadata[ScopeProvider].values() if isinstance(s, Scope)}:
            if isinstance(scope, GlobalScope | ClassScope):
                continue
            for name in {a.name for a in scope.assignments}:
                bindings = list(scope.assignments[name])
                binding = bindings[0]
                if len(bindings) != 1 or not isinstance(binding, Assignment):
                    continue
                assign = assigns.get(id(binding.node))
                if not isinstance(assign, cst.Assign):
                    continue
                value = self._static(assign.value)
                reads = [access.node for access in binding.references]
                if value is None or not all(isinstance(read, cst.Name) for read in reads):
                    continue
                self.plan.nodes.add(id(assign))
                for read in reads:
                    self._inlined[id(read)] = value

    # -- expressions

    def _lift(self, outer: cst.BaseExpression, inner: cst.BaseExpression) -> cst.BaseExpression:
        """`inner` in the place of `outer`, wearing outer's parentheses (see `marked`)."""
        if isinstance(inner, cst.Name) and inner.value in ("True", "False") and not inner.lpar:
            return self._constant(inner.value == "True", like=outer)
        if inner.lpar:
            # `3 if off else (a or b)` -> `(a or b)`: its own parentheses may go too.
            self.marked.add(id(inner))
            return inner
        if not outer.lpar:
            return inner
        lifted = inner.with_changes(lpar=outer.lpar, rpar=outer.rpar)
        self._keep.append(lifted)
        self.marked.add(id(lifted))
        return lifted

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        value = self._check(original_node) if self.rewriting else None
        return updated_node if value is None else self._constant(value, like=updated_node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        value = self._inlined.get(id(original_node))
        return updated_node if value is None else self._constant(value, like=updated_node)

    def leave_Await(self, original_node: cst.Await, updated_node: cst.Await) -> cst.BaseExpression:
        value = self._value(updated_node.expression)
        return updated_node if value is None else self._constant(value, like=updated_node)

    def leave_UnaryOperation(
        self, original_node: cst.UnaryOperation, updated_node: cst.UnaryOperation
    ) -> cst.BaseExpression:
        value = self._value(updated_node.expression)
        if value is None or not isinstance(updated_node.operator, cst.Not):
            return updated_node
        return self._constant(not value, like=updated_node)

    def leave_BooleanOperation(
        self, original_node: cst.BooleanOperation, updated_node: cst.BooleanOperation
    ) -> cst.BaseExpression:
        left, right = updated_node.left, updated_node.right
        lvalue, rvalue = self._value(left), self._value(right)
        # `and` with True, `or` with False: the other operand decides.
        neutral = isinstance(updated_node.operator, cst.And)
        if lvalue is not None:
            return self._lift(updated_node, right if lvalue is neutral else left)
        if rvalue is neutral:
            return self._lift(updated_node, left)
        if rvalue is not None and pure(left):
            return self._constant(rvalue, like=updated_node)
        # `f() or True`: f() still runs, so the expression stays as written.
        return updated_node

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.BaseExpression:
        value = self._value(updated_node.test)
        if value is None:
            return updated_node
        return self._lift(updated_node, updated_node.body if value else updated_node.orelse)

    def leave_Comparison(
        self, original_node: cst.Comparison, updated_node: cst.Comparison
    ) -> cst.BaseExpression:
        # `enabled(F) is True`, `== False`, `is not False`, ...
        value = self._value(updated_node.left)
        if value is None or len(updated_node.comparisons) != 1:
            return updated_node
        target = updated_node.comparisons[0]
        other = target.comparator
        if not (isinstance(other, cst.Name) and other.value in ("True", "False")):
            return updated_node
        same = value == (other.value == "True")
        if isinstance(target.operator, cst.Is | cst.Equal):
            return self._constant(same, like=updated_node)
        if isinstance(target.operator, cst.IsNot | cst.NotEqual):
            return self._constant(not same, like=updated_node)
        return updated_node

    def leave_CompFor(self, original_node: cst.CompFor, updated_node: cst.CompFor) -> cst.CompFor:
        ifs = [i for i in updated_node.ifs if self._value(i.test) is not True]
        return (
            updated_node.with_changes(ifs=ifs)
            if len(ifs) != len(updated_node.ifs)
            else updated_node
        )

    # -- statements

    def _pass(self) -> cst.SimpleStatementLine:
        line = cst.SimpleStatementLine(body=[cst.Pass()])
        self._keep.append(line)
        self._empty.add(id(line))
        return line

    def _is_empty(self, body: cst.BaseSuite) -> bool:
        return len(body.body) == 1 and id(body.body[0]) in self._empty

    def _inline(self, body: cst.BaseSuite) -> _Edit:
        """The statements of a branch kept inline; a `pass` only stood for "nothing"."""
        if isinstance(body, cst.IndentedBlock):
            statements = [s for s in body.body if not self._is_pass(s)]
            return _Edit(statements, body.footer)
        assert isinstance(body, cst.SimpleStatementSuite)
        small = [s for s in body.body if not isinstance(s, cst.Pass)]
        if not small:
            return _Edit([])
        line = cst.SimpleStatementLine(body=small, trailing_whitespace=body.trailing_whitespace)
        return _Edit([line])

    def _is_pass(self, statement: cst.BaseStatement) -> bool:
        """A bare `pass` line (one with a comment says something, and stays)."""
        if id(statement) in self._empty:
            return True
        return (
            isinstance(statement, cst.SimpleStatementLine)
            and all(isinstance(small, cst.Pass) for small in statement.body)
            and statement.trailing_whitespace.comment is None
            and all(_blank(line) for line in statement.leading_lines)
        )

    def _record(self, node: cst.BaseStatement, edit: _Edit) -> None:
        self.touched = True
        self._keep.append(node)
        self._edits[id(node)] = edit

    def visit_If(self, node: cst.If) -> None:
        if isinstance(node.orelse, cst.If):
            self._elifs.add(id(node.orelse))

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.BaseStatement:
        if id(original_node) in self._elifs:
            return updated_node  # the chain is folded from its first `if`
        hoisted = self._hoist(updated_node)
        if hoisted is not None:
            self._record(updated_node, hoisted)
            return updated_node
        branches: list[cst.If] = []
        node: cst.If | cst.Else | None = updated_node
        while isinstance(node, cst.If):
            branches.append(node)
            node = node.orelse
        final = node
        if not any(
            self._value(b.test) is not None or self._is_empty(b.body) for b in branches
        ) and not (final is not None and self._is_empty(final.body)):
            return updated_node

        kept: list[cst.If] = []
        tail: cst.BaseSuite | None = final.body if final is not None else None
        tail_from: cst.If | cst.Else | None = final
        for branch in branches:
            value = self._value(branch.test)
            if value is True:
                tail, tail_from = branch.body, branch
                break
            if value is None:
                kept.append(branch)
        if tail is not None and (
            self._is_empty(tail) or (tail_from is not final and not self._inline(tail).statements)
        ):
            tail = None  # nothing left to run: no `else: pass`
        while kept and tail is None and self._is_empty(kept[-1].body) and pure(kept[-1].test):
            kept.pop()

        if not kept:
            self._record(updated_node, _Edit([]) if tail is None else self._inline(tail))
            return updated_node
        if len(kept) == 1 and tail is not None and self._is_empty(kept[0].body):
            # `if x: pass else: y()` reads better as `if not x: y()`.
            return kept[0].with_changes(
                test=_negate(kept[0].test),
                body=tail,
                orelse=None,
                leading_lines=updated_node.leading_lines,
            )
        orelse: cst.If | cst.Else | None = None
        if tail is not None:
            if isinstance(tail_from, cst.Else):
                orelse = tail_from.with_changes(body=tail)
            else:
                assert isinstance(tail_from, cst.If)
                orelse = cst.Else(
                    body=tail,
                    leading_lines=tail_from.leading_lines,
                    whitespace_before_colon=tail_from.whitespace_after_test,
                )
        for branch in reversed(kept):
            orelse = branch.with_changes(orelse=orelse)
        assert isinstance(orelse, cst.If)
        if kept[0] is not branches[0]:
            orelse = orelse.with_changes(leading_lines=updated_node.leading_lines)
        return orelse

    def _hoist(self, node: cst.If) -> _Edit | None:
        """`if f() or True: body` is `f()` then `body`: the call still runs, the test is known.

        Likewise `if f() and False: ... else: body`. With `elif` branches the call
        runs only when they do not match, so the statement stays as it is.
        """
        test = node.test
        if not isinstance(test, cst.BooleanOperation):
            return None
        value = self._value(test.right)
        if value is None or value is not isinstance(test.operator, cst.Or):
            return None
        if not value and isinstance(node.orelse, cst.If):
            return None
        effect = cst.SimpleStatementLine(body=[cst.Expr(test.left)])
        if value:
            rest = self._inline(node.body)
        elif isinstance(node.orelse, cst.Else):
            rest = self._inline(node.orelse.body)
        else:
            rest = _Edit([])
        return _Edit([effect, *rest.statements], rest.trailing)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.BaseStatement:
        # `while True` stays a loop; a loop that never runs goes (its `else` runs).
        if self._value(updated_node.test) is False:
            orelse = updated_node.orelse
            self._record(updated_node, self._inline(orelse.body) if orelse else _Edit([]))
        return updated_node

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.BaseStatement:
        if id(original_node) in self.plan.nodes:
            self._record(updated_node, _Edit([]))
        return updated_node

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.BaseStatement:
        if id(original_node) in self.plan.nodes:
            self._record(updated_node, _Edit([]))
        return updated_node

    def _small(
        self,
        originals: Sequence[cst.BaseSmallStatement],
        updated: Sequence[cst.BaseSmallStatement],
    ) -> list[cst.BaseSmallStatement] | None:
        """The small statements of a line that stay; None when all stay unchanged."""
        kept: list[cst.BaseSmallStatement] = []
        for original, small in zip(originals, updated, strict=True):
            if id(original) in self.plan.nodes:
                continue
            if isinstance(small, cst.Assert) and self._value(small.test) is True:
                continue
            if isinstance(small, cst.Expr) and self._value(small.value) is not None:
                continue
            if isinstance(small, cst.Import | cst.ImportFrom) and id(original) in self.plan.aliases:
                remaining = self._without_aliases(small, self.plan.aliases[id(original)])
                if remaining is None:
                    continue
                small = remaining
            kept.append(small)
        if len(kept) == len(updated) and all(a is b for a, b in zip(kept, updated, strict=True)):
            return None
        self.touched = True
        if kept and kept[-1] is not updated[-1]:
            kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return kept

    @staticmethod
    def _without_aliases(
        node: cst.Import | cst.ImportFrom, drop: set[int]
    ) -> cst.Import | cst.ImportFrom | None:
        assert not isinstance(node.names, cst.ImportStar)
        names = [alias for i, alias in enumerate(node.names) if i not in drop]
        if not names:
            return None
        if len(node.names) - 1 in drop and node.names[-1].comma is cst.MaybeSentinel.DEFAULT:
            # The last name went and it had no trailing comma: neither does the new last.
            names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(names=names)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        kept = self._small(original_node.body, updated_node.body)
        if kept is None:
            return updated_node
        if not kept:
            self._record(updated_node, _Edit([]))
            return updated_node
        return updated_node.with_changes(body=kept)

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        kept = self._small(original_node.body, updated_node.body)
        if kept is None:
            return updated_node
        if kept:
            return updated_node.with_changes(body=kept)
        empty = cst.Pass()
        self._keep.append(empty)
        self._empty.add(id(empty))
        return updated_node.with_changes(body=[empty])

    def _block(
        self, body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]] | None:
        """Apply the recorded edits to a block: its statements and lines left to its footer."""
        if not any(id(statement) in self._edits for statement in body):
            return None
        out: list[cst.BaseStatement] = []
        pending: list[cst.EmptyLine] = []  # lines waiting for the next statement
        removed_first = False
        unreachable = False
        for statement in body:
            edit = self._edits.pop(id(statement), None)
            if unreachable:
                continue
            if edit is None:
                out.append(self._attach(pending, statement))
                pending = []
            elif edit.statements:
                first, *rest = edit.statements
                first = first.with_changes(leading_lines=[*_leading(statement), *_leading(first)])
                out.append(self._attach(pending, first))
                out.extend(rest)
                pending = list(edit.trailing)
                # A branch kept inline that returns makes the rest of its block dead.
                unreachable = _terminates(edit.statements[-1])
            else:
                removed_first = removed_first or not out
                pending = _join(pending, _detached(_leading(statement)))
        if removed_first and out:
            lines = list(_leading(out[0]))
            while lines and _blank(lines[0]):
                lines.pop(0)
            out[0] = out[0].with_changes(leading_lines=lines)
        footer = pending if any(not _blank(line) for line in pending) else []
        return out, footer

    @staticmethod
    def _attach(
        pending: Sequence[cst.EmptyLine], statement: cst.BaseStatement
    ) -> cst.BaseStatement:
        if not pending:
            return statement
        return statement.with_changes(leading_lines=_join(pending, _leading(statement)))

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        edited = self._block(updated_node.body)
        if edited is None:
            return updated_node
        body, footer = edited
        return updated_node.with_changes(
            body=body or [self._pass()], footer=[*footer, *updated_node.footer]
        )

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        edited = self._block(updated_node.body)
        if edited is None:
            return updated_node
        body, footer = edited
        return updated_node.with_changes(body=body, footer=[*footer, *updated_node.footer])


class _Parens(cst.CSTTransformer):
    """Drop the parentheses a fold moved, where they are not needed.

    Around a single-line atom (a name, call, attribute, ...) they never are; around
    anything else, only in a statement's own slot (`if (a + b):`, `return (a + b)`).
    A keyword the parentheses kept apart from the expression gets its space back.
    """

    def __init__(self, marked: Collection[int]) -> None:
        super().__init__()
        self.marked = marked

    def _bare(
        self, original: cst.BaseExpression, updated: cst.BaseExpression, *, slot: bool = False
    ) -> cst.BaseExpression:
        if id(original) not in self.marked:
            return updated
        bare = updated.with_changes(lpar=[], rpar=[])
        if "\n" in _code(bare) or isinstance(bare, _PARENTHESIZED):
            return updated
        return bare if slot or isinstance(bare, _ATOMS) else updated

    @staticmethod
    def _space(
        whitespace: cst.BaseParenthesizableWhitespace,
        before: cst.BaseExpression | None = None,
        after: cst.BaseExpression | None = None,
    ) -> cst.BaseParenthesizableWhitespace:
        if not isinstance(whitespace, cst.SimpleWhitespace) or whitespace.value:
            return whitespace
        glued = (before is not None and re.match(r"\w", _code(before)[-1:])) or (
            after is not None and re.match(r"\w", _code(after)[:1])
        )
        return cst.SimpleWhitespace(" ") if glued else whitespace

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.If:
        test = self._bare(original_node.test, updated_node.test, slot=True)
        space = self._space(updated_node.whitespace_before_test, after=test)
        assert isinstance(space, cst.SimpleWhitespace)
        return updated_node.with_changes(test=test, whitespace_before_test=space)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.While:
        test = self._bare(original_node.test, updated_node.test, slot=True)
        space = self._space(updated_node.whitespace_after_while, after=test)
        assert isinstance(space, cst.SimpleWhitespace)
        return updated_node.with_changes(test=test, whitespace_after_while=space)

    def leave_Assert(self, original_node: cst.Assert, updated_node: cst.Assert) -> cst.Assert:
        test = self._bare(original_node.test, updated_node.test, slot=True)
        space = self._space(updated_node.whitespace_after_assert, after=test)
        assert isinstance(space, cst.SimpleWhitespace)
        return updated_node.with_changes(test=test, whitespace_after_assert=space)

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        if original_node.value is None or updated_node.value is None:
            return updated_node
        value = self._bare(original_node.value, updated_node.value, slot=True)
        space = updated_node.whitespace_after_return
        if isinstance(space, cst.SimpleWhitespace):
            return updated_node.with_changes(
                value=value, whitespace_after_return=self._space(space, after=value)
            )
        return updated_node.with_changes(value=value)

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        return updated_node.with_changes(
            value=self._bare(original_node.value, updated_node.value, slot=True)
        )

    def leave_AnnAssign(
        self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign
    ) -> cst.AnnAssign:
        if original_node.value is None or updated_node.value is None:
            return updated_node
        return updated_node.with_changes(
            value=self._bare(original_node.value, updated_node.value, slot=True)
        )

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(
            value=self._bare(original_node.value, updated_node.value, slot=True)
        )

    def leave_Element(self, original_node: cst.Element, updated_node: cst.Element) -> cst.Element:
        return updated_node.with_changes(value=self._bare(original_node.value, updated_node.value))

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        return updated_node.with_changes(value=self._bare(original_node.value, updated_node.value))

    def leave_UnaryOperation(
        self, original_node: cst.UnaryOperation, updated_node: cst.UnaryOperation
    ) -> cst.UnaryOperation:
        expression = self._bare(original_node.expression, updated_node.expression)
        operator = updated_node.operator
        if isinstance(operator, cst.Not):
            space = self._space(operator.whitespace_after, after=expression)
            operator = operator.with_changes(whitespace_after=space)
        return updated_node.with_changes(operator=operator, expression=expression)

    def leave_BooleanOperation(
        self, original_node: cst.BooleanOperation, updated_node: cst.BooleanOperation
    ) -> cst.BooleanOperation:
        left = self._bare(original_node.left, updated_node.left)
        right = self._bare(original_node.right, updated_node.right)
        operator = updated_node.operator
        operator = operator.with_changes(
            whitespace_before=self._space(operator.whitespace_before, before=left),
            whitespace_after=self._space(operator.whitespace_after, after=right),
        )
        return updated_node.with_changes(left=left, operator=operator, right=right)

    def leave_Comparison(
        self, original_node: cst.Comparison, updated_node: cst.Comparison
    ) -> cst.Comparison:
        left = self._bare(original_node.left, updated_node.left)
        previous: cst.BaseExpression = left
        targets = []
        for original, target in zip(
            original_node.comparisons, updated_node.comparisons, strict=True
        ):
            comparator = self._bare(original.comparator, target.comparator)
            operator = target.operator
            if isinstance(operator, cst.In | cst.Is | cst.NotIn | cst.IsNot):
                operator = operator.with_changes(
                    whitespace_before=self._space(operator.whitespace_before, before=previous),
                    whitespace_after=self._space(operator.whitespace_after, after=comparator),
                )
            targets.append(target.with_changes(operator=operator, comparator=comparator))
            previous = comparator
        return updated_node.with_changes(left=left, comparisons=targets)

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.IfExp:
        body = self._bare(original_node.body, updated_node.body)
        test = self._bare(original_node.test, updated_node.test)
        orelse = self._bare(original_node.orelse, updated_node.orelse)
        node = updated_node
        return node.with_changes(
            body=body,
            test=test,
            orelse=orelse,
            whitespace_before_if=self._space(node.whitespace_before_if, before=body),
            whitespace_after_if=self._space(node.whitespace_after_if, after=test),
            whitespace_before_else=self._space(node.whitespace_before_else, before=test),
            whitespace_after_else=self._space(node.whitespace_after_else, after=orelse),
        )


# --- pruning names the rewrite left unused ------------------------------------------


def _scope_key(scope: Scope) -> tuple[str, ...]:
    parts: list[str] = []
    while not isinstance(scope, GlobalScope):
        parts.append(getattr(scope, "name", None) or type(scope).__name__)
        scope = scope.parent
    return tuple(reversed(parts))


def _scopes(wrapper: MetadataWrapper) -> set[Scope]:
    return {s for s in wrapper.resolve(ScopeProvider).values() if s is not None}


def _referenced(wrapper: MetadataWrapper) -> dict[tuple[tuple[str, ...], str], bool]:
    """Was each name read, by scope? Scopes sharing a key must all have read it."""
    result: dict[tuple[tuple[str, ...], str], bool] = {}
    for scope in _scopes(wrapper):
        key = _scope_key(scope)
        for name in {a.name for a in scope.assignments}:
            read = any(a.references for a in scope.assignments[name])
            result[(key, name)] = result.get((key, name), True) and read
    return result


def _exported(module: _Source) -> set[str] | None:
    """The names in `__all__`; None when it is built in a way we cannot read."""
    names: set[str] = set()
    for node in module.syntax.body if module.syntax is not None else ():
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = node.value
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and (
            isinstance(node.target, ast.Name) and node.target.id == "__all__"
        ):
            value = node.value
        else:
            continue
        if not isinstance(value, ast.List | ast.Tuple):
            return None
        for element in value.elts:
            if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
                return None
            names.add(element.value)
    return names


def _plan(
    module: _Module,
    tree: cst.Module,
    before: Mapping[tuple[tuple[str, ...], str], bool],
    context: _Context,
) -> tuple[_Plan, MetadataWrapper]:
    """Which names the rewrite left unused, and that may go (see the module docstring)."""
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    plan = _Plan()
    exported = _exported(_Source(module.path, tree.code, module.name, module.is_package))
    assigns = _assigns(tree)
    scopes = [s for s in _scopes(wrapper) if not isinstance(s, ClassScope | ComprehensionScope)]
    # Every name an import alias binds (`import a.b` binds `a.b` and `a`): an alias
    # goes when all of them are unread, and counts as read before when any was.
    alias_names: dict[tuple[int, int], set[str]] = {}
    for scope in scopes:
        for binding in scope.assignments:
            for alias in _aliases_of(binding, binding.name):
                alias_names.setdefault(alias, set()).add(binding.name)
    unread_alias_names: dict[tuple[int, int], set[str]] = {}
    for scope in scopes:
        at_module = isinstance(scope, GlobalScope)
        key = _scope_key(scope)
        for name in {a.name for a in scope.assignments}:
            bindings = list(scope.assignments[name])
            if any(b.references for b in bindings):
                continue
            aliases = [alias for b in bindings for alias in _aliases_of(b, name)]
            names = {n for alias in aliases for n in alias_names[alias]} | {name}
            was_read = any(before.get((key, n), False) for n in names)
            if at_module:
                qualified = _qualify(module, name)
                if exported is None or name in exported or context.is_external(qualified):
                    continue
                if context.constants.values.get(qualified) == context.flag:
                    # Alone, a constant nothing here read may be imported elsewhere: keep it.
                    allowed = context.project or was_read
                else:
                    # Other modules may import public names: only imports and private names go.
                    imports = all(isinstance(b, ImportAssignment) for b in bindings)
                    allowed = was_read and (imports or name.startswith("_"))
            else:
                allowed = was_read
            removals = [_removal(b, name, assigns) for b in bindings] if allowed else [None]
            if any(removal is None for removal in removals):
                continue
            for removal in removals:
                if isinstance(removal, tuple):
                    unread_alias_names.setdefault(removal, set()).add(name)
                elif removal is not None:
                    plan.nodes.add(removal)
    for alias, names in unread_alias_names.items():
        if alias_names[alias] <= names:
            plan.aliases.setdefault(alias[0], set()).add(alias[1])
    return plan, wrapper


def _alias_binds(alias: cst.ImportAlias, name: str, from_import: bool) -> bool:
    if alias.asname is not None:
        return alias.evaluated_alias == name
    bound = alias.evaluated_name
    # `import a.b` binds both `a.b` and `a` in libcst's scopes.
    return bound == name or (not from_import and bound.startswith(name + "."))


def _aliases_of(binding: BaseAssignment, name: str) -> list[tuple[int, int]]:
    if not isinstance(binding, ImportAssignment):
        return []
    node = binding.node
    if not isinstance(node, cst.Import | cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
        return []
    from_import = isinstance(node, cst.ImportFrom)
    return [
        (id(node), i)
        for i, alias in enumerate(node.names)
        if _alias_binds(alias, name, from_import)
    ]


def _removal(
    binding: BaseAssignment, name: str, assigns: Mapping[int, cst.Assign | cst.AnnAssign]
) -> tuple[int, int] | int | None:
    """What removes one binding: an import alias (import id, index) or the id of a
    statement; None when it cannot go on its own."""
    if isinstance(binding, ImportAssignment):
        node = binding.node
        if isinstance(node, cst.ImportFrom) and _import_from_module(node) == "__future__":
            return None
        aliases = _aliases_of(binding, name)
        return aliases[0] if len(aliases) == 1 else None
    if not isinstance(binding, Assignment):
        return None
    node = binding.node
    if isinstance(node, cst.Name):
        assign = assigns.get(id(node))
        if assign is not None and assign.value is not None and pure(assign.value):
            return id(assign)
        return None
    if isinstance(node, cst.FunctionDef | cst.ClassDef) and not node.decorators:
        return id(node)
    return None


# --- leftovers --------------------------------------------------------------------


def _word(flag: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(flag)}(?![A-Za-z0-9_])")


def fragment(piece: str, flag: str, *, open_start: bool = False, open_end: bool = False) -> bool:
    """Could `piece` be part of `flag`'s name, glued at run time to text computed elsewhere?

    Whole words of the name only, glued at an underscore (`"product_" + kind`,
    `"{}_tracking"`) or next to an f-string placeholder (`f"{kind}_tracking"`).
    """
    core = piece.strip("_")
    if len(core) < 3 or piece == flag:
        return False
    open_start = open_start or piece.startswith("_")
    open_end = open_end or piece.endswith("_")
    start = flag.find(core)
    while start != -1:
        end = start + len(core)
        at_words = (start == 0 or flag[start - 1] == "_") and (end == len(flag) or flag[end] == "_")
        if at_words and (open_start or start == 0) and (open_end or end == len(flag)):
            return True
        start = flag.find(core, start + 1)
    return False


_PIECES = re.compile(r"[a-z0-9_]+")


class _LeftoverFinder(_Reader):
    def __init__(self, module: _Source, context: _Context) -> None:
        super().__init__(module, context.constants)
        self.flag = context.flag
        self.word = _word(context.flag)
        self.exported = _exported(module) or set()
        self.found: dict[tuple[int, str], Leftover] = {}
        self._done: set[int] = set()  # strings already judged in their context

    def _report(self, node: ast.expr | ast.stmt, reason: str) -> None:
        self.found.setdefault(
            (node.lineno, reason), Leftover(self.module.path, node.lineno, reason)
        )

    def _exact(self, node: ast.expr, reason: str) -> None:
        """Report `node` when it is the flag's name itself, and judge it only here."""
        if isinstance(node, ast.Constant) and node.value == self.flag:
            self._report(node, reason)
            self._done.add(id(node))

    def _text(self, node: ast.expr) -> str:
        return (ast.get_source_segment(self.module.source, node) or ast.unparse(node))[:60]

    def visit_Call(self, node: ast.Call) -> None:
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(argument, ast.Constant) and argument.value == self.flag:
                self._exact(argument, PASSED_TO.format(callee=self._text(node.func)))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Constant) and node.value.value == self.flag:
            self._exact(node.value, CONSTANT_KEPT.format(name=self._text(node.targets[0])))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.value, ast.Constant) and node.value.value == self.flag:
            self._exact(node.value, CONSTANT_KEPT.format(name=self._text(node.target)))
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        # A docstring (a bare string statement) may mention the name but builds nothing.
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            if value.value != self.flag and self.word.search(value.value):
                self._report(value, IN_STRING)
            self._done.add(id(value))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if id(node) in self._done or not isinstance(value, str):
            return
        if value == self.flag:
            self._report(node, USED_ELSEWHERE)
        elif self.word.search(value):
            self._report(node, IN_STRING)
        elif any(fragment(piece, self.flag) for piece in _PIECES.findall(value)):
            self._report(node, BUILT_AT_RUN_TIME)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = node.values
        for i, part in enumerate(parts):
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                continue
            self._done.add(id(part))
            if self.word.search(part.value):
                self._report(node, IN_STRING)
                continue
            for piece in _PIECES.finditer(part.value):
                # Next to a placeholder, a piece is glued to text computed at run time.
                open_start = i > 0 and piece.start() == 0
                open_end = i < len(parts) - 1 and piece.end() == len(part.value)
                if fragment(piece.group(), self.flag, open_start=open_start, open_end=open_end):
                    self._report(node, BUILT_AT_RUN_TIME)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        # An import is no use of the name (its reads are reported), unless it re-exports.
        for alias in node.names:
            bound = alias.asname or alias.name
            held = self.constants.values.get(_qualify(self.module, bound))
            if held == self.flag and bound in self.exported:
                self._report(node, CONSTANT_KEPT.format(name=bound))

    def _read(self, node: ast.Name | ast.Attribute) -> None:
        if not isinstance(node.ctx, ast.Load) or self.value(node) != self.flag:
            self.generic_visit(node)
            return
        self._report(node, CONSTANT_USED.format(name=self._text(node)))

    def visit_Name(self, node: ast.Name) -> None:
        self._read(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._read(node)


def _leftovers(module: _Source, context: _Context) -> list[Leftover]:
    if module.syntax is None:
        return []
    finder = _LeftoverFinder(module, context)
    finder.visit(module.syntax)
    try:
        for token in tokenize.generate_tokens(io.StringIO(module.source).readline):
            if token.type == tokenize.COMMENT and finder.word.search(token.string):
                line = token.start[0]
                finder.found.setdefault((line, IN_COMMENT), Leftover(module.path, line, IN_COMMENT))
    except (tokenize.TokenError, SyntaxError):
        pass  # it parsed, so this is not expected; comments are only a courtesy
    return [finder.found[key] for key in sorted(finder.found)]


def _holds_flag(module: _Source, context: _Context) -> list[str]:
    """The module-level names of `module` bound to the flag's name."""
    return [
        name
        for name in _module_bindings(module)
        if context.constants.values.get(_qualify(module, name)) == context.flag
    ]


def _may_change(module: _Source, context: _Context) -> bool:
    """Can the rewrite change `module`? Cheap and conservative: it spares the metadata.

    Only a check of the flag, or a constant holding its name that nothing here reads
    (which may go), changes a module.
    """
    held = _leaves(context.constants, context.flag)
    names = [context.flag, *held]
    if _calls(context.spellings).search(module.source) and _words(names).search(module.source):
        return True
    bound = _holds_flag(module, context)
    if not bound or module.syntax is None:
        return False
    loads = Counter(
        node.id
        for node in ast.walk(module.syntax)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    )
    return any(loads[name] == 0 for name in bound)


def _rewrite_module(module: _Module, context: _Context) -> tuple[RewriteResult, _Source]:
    """The rewrite of one parsed module: the result, and the module as it is now."""
    if not _may_change(module, context):
        return RewriteResult(module.source, False, _leftovers(module, context)), module
    before = _referenced(module.wrapper)
    rewriter = _Rewriter(context, module)
    tree = module.wrapper.visit(rewriter)
    if not rewriter.touched and not _holds_flag(module, context):
        return RewriteResult(module.source, False, _leftovers(module, context)), module
    tree = tree.visit(_Parens(rewriter.marked))
    for _ in range(_MAX_PASSES):
        plan, wrapper = _plan(module, tree, before, context)
        if not plan:
            break
        tree = wrapper.visit(_Rewriter(context, module, plan))
    code = tree.code
    if code == module.source:
        return RewriteResult(module.source, False, _leftovers(module, context)), module
    rewritten = _Source(module.path, code, module.name, module.is_package)
    if rewritten.syntax is None:
        # A bug of ours: never hand out broken code, leave the file to a person.
        failed = Leftover(module.path, 1, REWRITE_FAILED)
        return RewriteResult(module.source, False, [failed]), module
    return RewriteResult(code, True, _leftovers(rewritten, context)), rewritten
