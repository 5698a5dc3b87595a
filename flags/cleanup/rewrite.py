"""Removing a flag from one file or a whole project: the passes, in order, to a fixpoint."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from flags.cleanup.constants import _discover_constants, _leaves, _module_bindings
from flags.cleanup.context import _Context
from flags.cleanup.imports import _external, _imported_names
from flags.cleanup.leftovers import _leftovers
from flags.cleanup.parens import _Parens
from flags.cleanup.patterns import _calls, _identifiers, _mentions, _words
from flags.cleanup.sources import _is_python, _Module, _parse, _qualify, _Source
from flags.cleanup.spellings import REWRITE_FAILED, SPELLINGS, Leftover, RewriteResult
from flags.cleanup.statements import _Rewriter
from flags.cleanup.unused import _plan, _referenced

_MAX_PASSES = 20


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
