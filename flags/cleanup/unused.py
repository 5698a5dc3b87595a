"""Pruning the names the rewrite left unused."""

from __future__ import annotations

import ast
from collections.abc import Mapping

import libcst as cst
from libcst.metadata import (
    Assignment,
    BaseAssignment,
    ClassScope,
    ComprehensionScope,
    GlobalScope,
    ImportAssignment,
    MetadataWrapper,
    Scope,
    ScopeProvider,
)

from flags.cleanup.context import Context, Plan
from flags.cleanup.fold import pure
from flags.cleanup.sources import (
    ParsedModule,
    Source,
    import_from_module,
    qualify,
    single_assignments,
)


def _scope_key(scope: Scope) -> tuple[str, ...]:
    parts: list[str] = []
    while not isinstance(scope, GlobalScope):
        parts.append(getattr(scope, "name", None) or type(scope).__name__)
        scope = scope.parent
    return tuple(reversed(parts))


def _scopes(wrapper: MetadataWrapper) -> set[Scope]:
    return {s for s in wrapper.resolve(ScopeProvider).values() if s is not None}


def referenced(wrapper: MetadataWrapper) -> dict[tuple[tuple[str, ...], str], bool]:
    """Was each name read, by scope? Scopes sharing a key must all have read it."""
    result: dict[tuple[tuple[str, ...], str], bool] = {}
    for scope in _scopes(wrapper):
        key = _scope_key(scope)
        for name in {a.name for a in scope.assignments}:
            read = any(a.references for a in scope.assignments[name])
            result[(key, name)] = result.get((key, name), True) and read
    return result


def exported_names(module: Source) -> set[str] | None:
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


def plan_removals(
    module: ParsedModule,
    tree: cst.Module,
    before: Mapping[tuple[tuple[str, ...], str], bool],
    context: Context,
) -> tuple[Plan, MetadataWrapper]:
    """Which names the rewrite left unused, and that may go (see the module docstring)."""
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    plan = Plan()
    exported = exported_names(Source(module.path, tree.code, module.name, module.is_package))
    assigns = single_assignments(tree)
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
                qualified = qualify(module, name)
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
        if isinstance(node, cst.ImportFrom) and import_from_module(node) == "__future__":
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
