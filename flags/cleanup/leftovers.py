"""What the rewrite could not remove: the flag's name left in code, strings and comments."""

from __future__ import annotations

import ast
import io
import re
import tokenize

from flags.cleanup.apis import ast_name_argument, ast_shape
from flags.cleanup.context import Context
from flags.cleanup.imports import Reader
from flags.cleanup.sources import Source, qualify
from flags.cleanup.spellings import (
    BUILT_AT_RUN_TIME,
    CHECK_KEPT,
    CONSTANT_KEPT,
    CONSTANT_USED,
    IN_COMMENT,
    IN_STRING,
    PASSED_TO,
    USED_ELSEWHERE,
    WHILE_LOOP,
    Leftover,
)
from flags.cleanup.unused import exported_names


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


class _LeftoverFinder(Reader):
    def __init__(self, module: Source, context: Context) -> None:
        super().__init__(module, context.constants)
        self.flag = context.flag
        self.apis = context.apis
        self.word = _word(context.flag)
        self.exported = exported_names(module) or set()
        self.found: dict[tuple[int, str], Leftover] = {}
        self._done: set[int] = set()  # calls and names already judged in their context

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

    def _is_check(self, call: ast.Call) -> bool | None:
        """Is `call` given the flag's name a check of it (one the rewrite left with a
        loop), or one that only looks like one (`widget.enabled(F)`: no leftover)?"""
        argument = ast_name_argument(call)
        if argument is None or self.value(argument) != self.flag:
            return None
        shape = ast_shape(call)
        if self.apis.check(shape, self.names) is not None:
            return True
        return False if shape is not None and shape.method in self.apis.methods else None

    def _judged(self, call: ast.Call) -> None:
        argument = ast_name_argument(call)
        self._done.update(id(node) for node in (call, argument) if node is not None)

    def visit_While(self, node: ast.While) -> None:
        checks = [c for c in ast.walk(node.test) if isinstance(c, ast.Call) and self._is_check(c)]
        if checks:
            self._report(node, WHILE_LOOP)
            for call in checks:
                self._judged(call)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        check = self._is_check(node)
        if check is not None:
            if check and id(node) not in self._done:
                self._report(node, CHECK_KEPT)
            self._judged(node)
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(argument, ast.Constant) and argument.value == self.flag:
                if id(argument) not in self._done:
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
            held = self.constants.values.get(qualify(self.module, bound))
            if held == self.flag and bound in self.exported:
                self._report(node, CONSTANT_KEPT.format(name=bound))

    def _read(self, node: ast.Name | ast.Attribute) -> None:
        if id(node) in self._done:
            return
        if not isinstance(node.ctx, ast.Load) or self.value(node) != self.flag:
            self.generic_visit(node)
            return
        self._report(node, CONSTANT_USED.format(name=self._text(node)))

    def visit_Name(self, node: ast.Name) -> None:
        self._read(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._read(node)


def find_leftovers(module: Source, context: Context) -> list[Leftover]:
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
