"""Which command a ticked step may run: the one whose shape the bot recorded for it.

A rollout issue is a control panel anyone with edit rights can retype, and the
person who ticks a box is often not the one who last edited its line. So a step's
line is trusted only as far as it has the shape the bot rendered for that step
(`templates.step_shapes`): its slots filled with values of their type, nothing
else changed. Anything else is refused and the comment shows the step's command
next to the line and what differs; a step with no recorded shape runs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from flags import grammar
from flags.errors import Refusal
from flags.grammar import FeatureCommand
from gitlab_ops.chatops import Command, parse
from templates.step_shapes import CommandShape, differences, read_shape
from webhook.step_outcome import (
    NOT_A_ROLLOUT_ISSUE,
    OTHER_FLAG,
    OVERRIDE_FLAG,
    OVERRIDE_ONLY_IN_COMMENT,
)

# User-facing text, kept here so tests assert against the same words.
NO_RECORDED_SHAPE = (
    "this step has no recorded command, so it runs none: the bot records each step's "
    "command when it opens the issue, and `rollout-bot issue record-steps` records those "
    "of older issues whose steps still match the template; run the command from a "
    "comment instead"
)
NOT_THE_STEPS_COMMAND = (
    "the line is not this step's command: the step runs `{expected}`, the line says "
    "`{found}`; {differences}"
)


def step_command(line: str, shape: CommandShape | None, environments: Sequence[str]) -> Command:
    """The command a ticked step's `line` may run, or a Refusal saying why it may not.

    In order: a placeholder still there asks for a value; the consistency override is
    a decision for a comment; then the line must have the step's recorded shape, and
    finally the grammar parses it with all its checks.
    """
    left = grammar.find_placeholders(line)
    if left:
        raise grammar.placeholder_refusal(left)
    found = read_shape(line, environments)
    if OVERRIDE_FLAG in found.options:
        raise Refusal(OVERRIDE_ONLY_IN_COMMENT)
    if shape is None:
        raise Refusal(NO_RECORDED_SHAPE)
    diffs = differences(shape, found)
    if diffs:
        raise Refusal(
            NOT_THE_STEPS_COMMAND.format(
                expected=shape.line, found=found.line, differences="; ".join(map(str, diffs))
            )
        )
    return parse(line, environments)


def check_comment_scope(command: Command, flag: str | None) -> None:
    """A comment changes only its rollout issue's flag (`flag`); reading may name anything."""
    if not isinstance(command, FeatureCommand) or command.verb in ("get", "list"):
        return
    if flag is None:
        raise Refusal(NOT_A_ROLLOUT_ISSUE)
    if command.name != flag:
        raise Refusal(OTHER_FLAG.format(flag=flag))
