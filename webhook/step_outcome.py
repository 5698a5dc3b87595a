"""What happened to one step or comment command; JSON-ready so a retry can replay it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["applied", "refused", "acknowledged", "unticked", "skipped", "ambiguous"]

# User-facing text, kept here so tests assert against the same words.
NO_LONGER_TICKED = "the box was no longer ticked when the bot read the issue; nothing was done"
UNTICK_NOTE = "no flag was changed"
RETRY_HINT = "fix the command in the issue if needed, then tick the box again"
OVERRIDE_FLAG = "--ignore-feature-flag-consistency-check"
OVERRIDE_ONLY_IN_COMMENT = (
    f"{OVERRIDE_FLAG} is not accepted from a step: a step runs the command its template gave "
    "it; to override the check, comment `/chatops run <the command> "
    f"{OVERRIDE_FLAG}` (production's access level is needed)"
)
OTHER_FLAG = (
    "this is the rollout issue of `{flag}`: a comment here may change only `{flag}` "
    "(`feature get` and `feature list` may name any flag)"
)
NOT_A_ROLLOUT_ISSUE = "this issue is not a rollout issue the bot knows; no command runs here"
NOT_A_RECORDED_ISSUE = "this issue is not a recorded rollout issue"
AMBIGUOUS_MARKER = (
    "{count} tasks carry this step's hidden marker (lines {lines}), so the bot cannot tell "
    "which one is the step: nothing was run and no box was changed. Keep one task with the "
    "marker `step:{step}` and delete the copies (each copy's line holds it after its "
    "checkbox), then tick the step again, unticking it first if it shows ticked"
)
UNCONFIRMED_EDITOR = (
    "the event's author could not be confirmed: GitLab sent it as from {user}, but the edit's "
    "last editor is {editor}; nothing was run"
)


@dataclass(frozen=True)
class StepOutcome:
    status: Status
    step: str  # the step marker id, or "comment" for a comment command
    text: str  # the step's text as the issue shows it
    command: str | None = None  # the full `/chatops run ...` line
    card: dict[str, Any] | None = None  # the flags result card (applied commands)
    reason: str | None = None  # why it was refused or skipped
    answer: str | None = None  # Markdown answer of a question (deployment checks)
    unticked: bool | None = None  # a refused step's untick: done or not; None: not tried yet
    untick_why: str | None = None  # why the box was not unticked (`webhook.untick`)

    @property
    def untick(self) -> bool:
        """A refused step is unticked again so the issue shows it still has to be done."""
        return self.status == "refused"

    def to_json(self) -> dict[str, Any]:
        return {"outcome": asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepOutcome:
        return cls(**data["outcome"])

    @classmethod
    def recalled(cls, data: Any, *, step: str, text: str, command: str | None) -> StepOutcome:
        """A remembered run: an outcome, or the card `flags.commands` stored for a change."""
        if isinstance(data, dict) and "outcome" in data:
            return cls.from_json(data)
        return cls("applied", step, text, command, card=data)
