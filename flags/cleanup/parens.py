"""Parentheses a fold moved: dropped where they are not needed."""

from __future__ import annotations

import re
from collections.abc import Collection

import libcst as cst

from flags.cleanup.sources import EMPTY_MODULE

ATOMS = (
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
    return EMPTY_MODULE.code_for_node(node)


class Parens(cst.CSTTransformer):
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
        return bare if slot or isinstance(bare, ATOMS) else updated

    @staticmethod
    def _space(
        whitespace: cst.BaseParenthesizableWhitespace,
        before: cst.BaseExpression | None = None,
        after: cst.BaseExpression | None = None,
    ) -> cst.BaseParenthesizableWhitespace:
        if not isinstance(whitespace, cst.SimpleWhitespace) or whitespace.value:
            return whitespace
        # The characters the keyword would touch without the parentheses.
        touching = (_code(before)[-1:] if before is not None else "") + (
            _code(after)[:1] if after is not None else ""
        )
        glued = re.search(r"\w", touching)
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
