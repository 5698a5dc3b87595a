"""Statements after the fold: branches kept or dropped, dead loops, names the plan removes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from flags.cleanup.blocks import Blocks, blank
from flags.cleanup.context import Edit
from flags.cleanup.fold import pure
from flags.cleanup.parens import ATOMS


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
    if isinstance(test, ATOMS) or test.lpar:
        return cst.UnaryOperation(operator=cst.Not(), expression=test)
    return cst.UnaryOperation(
        operator=cst.Not(),
        expression=test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
    )


class Rewriter(Blocks):
    """One pass: checks become constants and fold (first pass), or a `Plan` is removed."""

    # -- statements

    def _inline(self, body: cst.BaseSuite) -> Edit:
        """The statements of a branch kept inline; a `pass` only stood for "nothing"."""
        if isinstance(body, cst.IndentedBlock):
            statements = [s for s in body.body if not self._is_pass(s)]
            return Edit(statements, body.footer)
        assert isinstance(body, cst.SimpleStatementSuite)
        small = [s for s in body.body if not isinstance(s, cst.Pass)]
        if not small:
            return Edit([])
        line = cst.SimpleStatementLine(body=small, trailing_whitespace=body.trailing_whitespace)
        return Edit([line])

    def _is_pass(self, statement: cst.BaseStatement) -> bool:
        """A bare `pass` line (one with a comment says something, and stays)."""
        if id(statement) in self._empty:
            return True
        return (
            isinstance(statement, cst.SimpleStatementLine)
            and all(isinstance(small, cst.Pass) for small in statement.body)
            and statement.trailing_whitespace.comment is None
            and all(blank(line) for line in statement.leading_lines)
        )

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
            self._record(updated_node, Edit([]) if tail is None else self._inline(tail))
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

    def _hoist(self, node: cst.If) -> Edit | None:
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
            rest = Edit([])
        return Edit([effect, *rest.statements], rest.trailing)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.BaseStatement:
        # A loop that never runs goes (its `else` runs). One the flag kept running
        # (`while flags.enabled(F)`, a kill switch) would never stop on its test as
        # `while True`: it is left as it is, for a person (the leftovers say so).
        if id(original_node) in self.frozen:
            return original_node
        if self._value(updated_node.test) is False:
            orelse = updated_node.orelse
            self._record(updated_node, self._inline(orelse.body) if orelse else Edit([]))
        elif self.rewriting and self._holds_constant(updated_node.test):
            self.loops.add(id(original_node))
        return updated_node

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.BaseStatement:
        if id(original_node) in self.plan.nodes:
            self._record(updated_node, Edit([]))
        return updated_node

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.BaseStatement:
        if id(original_node) in self.plan.nodes:
            self._record(updated_node, Edit([]))
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
            self._record(updated_node, Edit([]))
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
