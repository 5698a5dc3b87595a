"""Checks of the flag become constants, and the expressions around them fold."""

from __future__ import annotations

from collections.abc import Collection

import libcst as cst
from libcst.metadata import (
    Assignment,
    ClassScope,
    GlobalScope,
    QualifiedNameProvider,
    Scope,
    ScopeProvider,
)

from flags.cleanup.apis import cst_name_argument, cst_shape
from flags.cleanup.context import Context, Edit, Plan
from flags.cleanup.imports import ModuleNames
from flags.cleanup.sources import ParsedModule, single_assignments


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


def _literal(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString | cst.ConcatenatedString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


class Folder(cst.CSTTransformer):
    """The expressions of one pass: checks become constants and fold.

    It holds the state of the whole pass; `Blocks` and `Rewriter` add the statements.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, ScopeProvider)

    def __init__(
        self,
        context: Context,
        module: ParsedModule,
        plan: Plan | None = None,
        *,
        frozen: Collection[int] = (),
    ) -> None:
        super().__init__()
        self.context = context
        self.module = module
        self.plan = plan or Plan()
        self.rewriting = plan is None
        self.names = ModuleNames(module) if self.rewriting else None
        # `while` loops left as they are (by id): nothing in them folds (see `loops`).
        self.frozen = frozen
        self._untouchable: set[int] = set()  # every node inside a frozen loop
        # `while` loops whose test would still hold a constant of ours (`while True`):
        # the rewrite runs again with them frozen.
        self.loops: set[int] = set()
        self.touched = False
        # Nodes this pass made, by id; `_keep` holds them so no id is reused.
        self._keep: list[cst.CSTNode] = []
        self._constants: dict[int, bool] = {}  # True/False standing for a check
        self._empty: set[int] = set()  # `pass` put in a block left empty
        # Expressions holding parentheses that were not theirs (a folded check's, or
        # those of an expression folded away): `Parens` drops them where not needed.
        self.marked: set[int] = set()
        self._edits: dict[int, Edit] = {}
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
        if self.names is None or id(call) in self._untouchable:
            return None
        positive = self.context.apis.check(cst_shape(call), self.names)
        argument = cst_name_argument(call) if positive is not None else None
        if positive is None or argument is None:
            return None
        name = _literal(argument)
        if name is None and isinstance(argument, cst.Name | cst.Attribute):
            names = self.get_metadata(QualifiedNameProvider, argument, set())
            name = self.context.constants.value(self.module, names)
        return positive if name == self.context.flag else None

    def _holds_constant(self, node: cst.CSTNode) -> bool:
        return id(node) in self._constants or any(
            self._holds_constant(child) for child in node.children
        )

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
        if self.frozen:
            inside = _Inside(self.frozen)
            node.visit(inside)
            self._untouchable = inside.ids
        # A local variable assigned the check once (`on = flags.enabled(F, actor)`)
        # is read as the check: its reads become the constant, the assignment goes.
        assigns = single_assignments(node)
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
                if any(id(read) in self._untouchable for read in reads):
                    # A frozen loop reads it: the variable and its check stay.
                    self._untouchable.update(_Inside.all_ids(assign.value))
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


class _Inside(cst.CSTVisitor):
    """The ids of every node inside the given `while` loops."""

    def __init__(self, loops: Collection[int]) -> None:
        super().__init__()
        self.loops = loops
        self.ids: set[int] = set()
        self._depth = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.While) and id(node) in self.loops:
            self._depth += 1
        if self._depth:
            self.ids.add(id(node))
        return True

    @classmethod
    def all_ids(cls, node: cst.CSTNode) -> set[int]:
        ids = {id(node)}
        for child in node.children:
            ids |= cls.all_ids(child)
        return ids

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.While) and id(original_node) in self.loops:
            self._depth -= 1
