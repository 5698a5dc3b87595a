"""Applying a pass's statement edits to the blocks that hold them, lines and comments too."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from flags.cleanup.context import Edit
from flags.cleanup.fold import Folder


def blank(line: cst.EmptyLine) -> bool:
    return line.comment is None


def _detached(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """The lines above a removed statement that are not about it.

    Comments right above a statement go with it; what a blank line separates from
    it (a section comment, the blank line itself) stays.
    """
    last_blank = max((i for i, line in enumerate(lines) if blank(line)), default=-1)
    return list(lines[: last_blank + 1])


def _join(before: Sequence[cst.EmptyLine], after: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """`before` then `after`, without doubling the blank lines where they meet."""
    head = list(before)
    if after and blank(after[0]):
        while head and blank(head[-1]):
            head.pop()
    return [*head, *after]


def _leading(statement: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    assert isinstance(statement, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    return statement.leading_lines


def _terminates(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and isinstance(
        statement.body[-1], cst.Return | cst.Raise | cst.Continue | cst.Break
    )


class Blocks(Folder):
    """Records edits of statements (`_record`), and applies them to each block on leaving it."""

    def _pass(self) -> cst.SimpleStatementLine:
        line = cst.SimpleStatementLine(body=[cst.Pass()])
        self._keep.append(line)
        self._empty.add(id(line))
        return line

    def _is_empty(self, body: cst.BaseSuite) -> bool:
        return len(body.body) == 1 and id(body.body[0]) in self._empty

    def _record(self, node: cst.BaseStatement, edit: Edit) -> None:
        self.touched = True
        self._keep.append(node)
        self._edits[id(node)] = edit

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
                detached = _detached(_leading(statement))
                pending = _join(pending, detached)
        if removed_first and out:
            lines = list(_leading(out[0]))
            while lines and blank(lines[0]):
                lines.pop(0)
            out[0] = out[0].with_changes(leading_lines=lines)
        footer = pending if any(not blank(line) for line in pending) else []
        return out, footer

    @staticmethod
    def _attach(
        pending: Sequence[cst.EmptyLine], statement: cst.BaseStatement
    ) -> cst.BaseStatement:
        if not pending:
            return statement
        leading = _leading(statement)
        return statement.with_changes(leading_lines=_join(pending, leading))

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
