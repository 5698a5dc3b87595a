"""Finding the flag checks of a project, for the usage scan: read-only, with `ast`."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from flags.cleanup.apis import FlagApis, ast_name_argument, ast_shape, declared_apis
from flags.cleanup.constants import Constants, constant_names, discover_constants
from flags.cleanup.imports import Reader
from flags.cleanup.patterns import STRING_ASSIGNMENT, call_pattern, word_pattern
from flags.cleanup.sources import Source, is_python
from flags.cleanup.spellings import Evaluation


@dataclass
class Calls:
    """The checks found, and the calls spelled like one on something that is not a
    flag API (`widget.enabled("x")`): those are not a use of the flag `x`."""

    evaluations: list[Evaluation] = field(default_factory=list)
    lookalikes: list[tuple[str, int, str]] = field(default_factory=list)  # path, line, name


def find_evaluations(files: Mapping[str, str], *, apis: FlagApis | None = None) -> list[Evaluation]:
    """Every flag check in the Python files whose name is a literal or a known constant."""
    return find_calls(files, apis=apis).evaluations


def find_calls(files: Mapping[str, str], *, apis: FlagApis | None = None) -> Calls:
    """Flag checks, and look-alikes, whose name is a literal or a known constant.

    The checks are those the rewrite would rewrite: calls on `apis`, by default
    the flag APIs `files` declare (`flags.cleanup.apis`). This only reads, so it uses
    `ast` (tens of times faster than libcst's metadata) with the same constants as
    the rewrite. Names are resolved by their imports alone: a local variable
    shadowing a constant is not noticed.
    """
    if apis is None:
        apis = declared_apis(files)[0]
    sources = {path: Source.of(path, text) for path, text in files.items() if is_python(path)}
    call = call_pattern(apis.methods)
    # Only what can matter: modules with a check, modules binding a string at top
    # level, and modules importing those names, to a fixpoint.
    chosen = {
        path: source
        for path, source in sources.items()
        if call.search(source.source) or STRING_ASSIGNMENT.search(source.source)
    }
    constants = discover_constants(chosen.values())
    seen: set[str] = set()
    while names := constant_names(constants) - seen:
        seen |= names
        word = word_pattern(names)
        more = {
            path: source
            for path, source in sources.items()
            if path not in chosen and "import" in source.source and word.search(source.source)
        }
        if not more:
            break
        chosen.update(more)
        constants = discover_constants(chosen.values())
    found = Calls()
    for source in chosen.values():
        if source.syntax is not None and call.search(source.source):
            _CallFinder(source, constants, apis, found).visit(source.syntax)
    return found


class _CallFinder(Reader):
    def __init__(self, module: Source, constants: Constants, apis: FlagApis, found: Calls) -> None:
        super().__init__(module, constants)
        self.apis = apis
        self.found = found

    def visit_Call(self, node: ast.Call) -> None:
        shape = ast_shape(node)
        argument = ast_name_argument(node)
        if shape is not None and shape.method in self.apis.methods and argument is not None:
            name = self.value(argument)
            if name is not None:
                positive = self.apis.check(shape, self.names)
                if positive is None:
                    self.found.lookalikes.append((self.module.path, node.lineno, name))
                else:
                    self.found.evaluations.append(
                        Evaluation(self.module.path, node.lineno, name, positive)
                    )
        self.generic_visit(node)
