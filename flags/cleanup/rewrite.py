"""Removing a flag from one file or a whole project: the passes, in order, to a fixpoint."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from flags.cleanup.apis import DEFAULT_APIS, FlagApis, declared_apis
from flags.cleanup.constants import constant_names, discover_constants, module_bindings
from flags.cleanup.context import Context
from flags.cleanup.imports import imported_elsewhere, imported_names
from flags.cleanup.leftovers import find_leftovers
from flags.cleanup.parens import Parens
from flags.cleanup.patterns import call_pattern, identifiers_in, mention_pattern, word_pattern
from flags.cleanup.sources import ParsedModule, Source, is_python, parse_module, qualify
from flags.cleanup.spellings import REWRITE_FAILED, Leftover, RewriteResult
from flags.cleanup.statements import Rewriter
from flags.cleanup.unused import plan_removals, referenced

_MAX_PASSES = 20


def rewrite_source(
    source: str,
    flag: str,
    *,
    path: str = "<string>",
    apis: FlagApis = DEFAULT_APIS,
) -> RewriteResult:
    """Remove `flag` from one file, treating the file as the whole program.

    Only checks made on `apis` are rewritten (by default, the default flag APIs).
    """
    module = parse_module(path, source)
    if isinstance(module, Leftover):
        return RewriteResult(source, False, [module] if flag in source else [])
    context = Context(flag, apis, discover_constants([module]), project=False)
    return _rewrite_module(module, context)[0]


def rewrite_project(
    files: Mapping[str, str],
    flag: str,
    *,
    apis: FlagApis | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, RewriteResult]:
    """Remove `flag` from every Python file of `files` (path -> text).

    Constants bound to the flag's name are followed through imports across files, and
    a module-level name is kept while another module still imports it. The checks
    rewritten are those made on `apis`, by default the flag APIs `files` declare in
    their `pyproject.toml` (see `flags.cleanup.apis`). Other files get no result,
    but a declaration that cannot be read: it gets one listing the problem.
    `progress(done, total)` hears of each Python file settled.
    """
    sources = {path: text for path, text in files.items() if is_python(path)}
    results: dict[str, RewriteResult] = {}
    if apis is None:
        apis, problem = declared_apis(files)
        if problem is not None:
            results[problem.path] = RewriteResult(files[problem.path], False, [problem])
    parsed: dict[str, ParsedModule] = {}

    def parse(paths: Iterable[str]) -> bool:
        new = False
        for path in list(paths):
            module = parse_module(path, sources[path])
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
    constants = discover_constants(parsed.values())
    seen: set[str] = set()
    while names := constant_names(constants, flag) - seen:
        seen |= names
        word = word_pattern(names)
        unparsed = [p for p in sources if p not in parsed and p not in results]
        if not parse(p for p in unparsed if word.search(sources[p])):
            break
        constants = discover_constants(parsed.values())

    # Other modules can only import a name of ours if they spell it and our module.
    words = identifiers_in(t for p, t in sources.items() if p not in parsed)
    modules = list(parsed.values())
    # Start from what the modules import today (a superset), and shrink: removing a
    # name can only remove imports elsewhere, so this settles within len(modules) rounds.
    reads = {m.path: imported_names(m) for m in modules}
    outputs: dict[str, tuple[RewriteResult, Source]] = {}
    asked: dict[str, dict[str, bool]] = {}  # per module: what it asked `is_external`
    for _ in range(len(modules) + 2):
        for module in modules:
            external = imported_elsewhere(reads, module.path, words)
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

            context = Context(flag, apis, constants, True, recorded)
            outputs[module.path] = _rewrite_module(module, context)
        new_reads = {m.path: imported_names(outputs[m.path][1]) for m in modules}
        if new_reads == reads:
            break
        reads = new_reads
    results.update({path: result for path, (result, _) in outputs.items()})

    mentions = mention_pattern(flag)
    context = Context(flag, apis, constants, True)
    for path, text in sources.items():
        if progress is not None:
            progress(len(results), len(sources))
        if path in results:
            continue
        found = find_leftovers(Source.of(path, text), context) if mentions.search(text) else []
        results[path] = RewriteResult(text, False, found)
    if progress is not None:
        progress(len(sources), len(sources))
    return {path: results[path] for path in files if path in results}


def _holds_flag(module: Source, context: Context) -> list[str]:
    """The module-level names of `module` bound to the flag's name."""
    return [
        name
        for name in module_bindings(module)
        if context.constants.values.get(qualify(module, name)) == context.flag
    ]


def _may_change(module: Source, context: Context) -> bool:
    """Can the rewrite change `module`? Cheap and conservative: it spares the metadata.

    Only a check of the flag, or a constant holding its name that nothing here reads
    (which may go), changes a module.
    """
    held = constant_names(context.constants, context.flag)
    names = [context.flag, *held]
    if call_pattern(context.apis.methods).search(module.source) and word_pattern(names).search(
        module.source
    ):
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


def _rewrite_module(module: ParsedModule, context: Context) -> tuple[RewriteResult, Source]:
    """The rewrite of one parsed module: the result, and the module as it is now."""
    if not _may_change(module, context):
        return RewriteResult(module.source, False, find_leftovers(module, context)), module
    before = referenced(module.wrapper)
    rewriter = Rewriter(context, module)
    tree = module.wrapper.visit(rewriter)
    while rewriter.loops - set(rewriter.frozen):
        # Loops the flag kept running stay as they are: fold again around them.
        rewriter = Rewriter(context, module, frozen={*rewriter.frozen, *rewriter.loops})
        tree = module.wrapper.visit(rewriter)
    if not rewriter.touched and not _holds_flag(module, context):
        return RewriteResult(module.source, False, find_leftovers(module, context)), module
    tree = tree.visit(Parens(rewriter.marked))
    for _ in range(_MAX_PASSES):
        plan, wrapper = plan_removals(module, tree, before, context)
        if not plan:
            break
        tree = wrapper.visit(Rewriter(context, module, plan))
    code = tree.code
    if code == module.source:
        return RewriteResult(module.source, False, find_leftovers(module, context)), module
    rewritten = Source(module.path, code, module.name, module.is_package)
    if rewritten.syntax is None:
        # A bug of ours: never hand out broken code, leave the file to a person.
        failed = Leftover(module.path, 1, REWRITE_FAILED)
        return RewriteResult(module.source, False, [failed]), module
    return RewriteResult(code, True, find_leftovers(rewritten, context)), rewritten
