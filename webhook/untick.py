"""Unticking a refused step, then saying what became of the box.

A refused step is unticked so the issue does not show as done what did not run.
The comment reports the untick's result, so it is written after the untick: done,
or not done and why (`UntickReport`).

GitLab's REST API has no optimistic locking for descriptions (gitlab issue
465150, https://gitlab.com/gitlab-org/gitlab/-/issues/465150): the only write is
the whole description. So each attempt reads the issue, flips the one box in what
it read (`templates.steps.set_checked`), writes that at once, and reads again to
check the box stuck; if someone edited meanwhile, it starts over, up to
`UNTICK_ATTEMPTS` times.

The lost-update window that remains is one round trip: between GitLab answering
the read and receiving the write there is the read's answer travelling back, the
bot flipping one character, and the write travelling there; no other request is
made in between (`tests/test_untick.py` checks the order of requests). A person's
edit that GitLab saves inside that window is overwritten. Checking the inbox
narrows a second case: a refused tick that a person ticked again is left alone when
GitLab has already delivered that newer edit (`ticked_again`); a re-tick GitLab
saved but has not delivered yet is taken for the refused tick and unticked, and its
own delivery then says the box was no longer ticked, so nothing is lost silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flags.store import Store
from gitlab_ops import lease
from gitlab_ops.client import GitLab
from gitlab_ops.errors import GitLabError, TransientGitLabError
from templates.steps import AmbiguousMarker, EdgeKind, TaskNotFound, diff, set_checked, step_index
from webhook.inbox import Delivery
from webhook.payload import Event
from webhook.step_outcome import StepOutcome

__all__ = [
    "ALREADY_UNTICKED",
    "AMBIGUOUS",
    "GITLAB_REFUSED",
    "KEPT_CHANGING",
    "STEP_NOT_FOUND",
    "TICKED_AGAIN",
    "UNTICK_ATTEMPTS",
    "UntickReport",
    "Unticker",
    "settle",
    "ticked_again",
]

UNTICK_ATTEMPTS = 5

# Why a box was not unticked: user-facing, completing "The box was not unticked: ...".
ALREADY_UNTICKED = "it was already unticked"
STEP_NOT_FOUND = "the step can no longer be found in the description"
AMBIGUOUS = (
    "{count} tasks carry its marker (lines {lines}), so the bot cannot tell which box is the step's"
)
KEPT_CHANGING = "the issue kept changing, and the box was still ticked after {attempts} attempts"
GITLAB_REFUSED = "GitLab refused the edit ({error})"
TICKED_AGAIN = (
    "a later edit ticked it again, so it is left ticked; that tick is answered on its own"
)

# A tick by a person, in a later delivery: the box is theirs again.
_RETICKS = (EdgeKind.TICKED, EdgeKind.APPEARED_TICKED)


@dataclass(frozen=True)
class UntickReport:
    """What became of one box: unticked (`done`), or not and `why`."""

    done: bool
    why: str | None = None


def ticked_again(later: Sequence[Delivery], step: str) -> bool:
    """Whether a delivery that arrived after this one ticks `step`: then it is not ours."""
    for delivery in later:
        change = Event(delivery.kind, delivery.payload, delivery.delivery_key).description_change
        if change is None:
            continue
        if any(edge.marker == step and edge.kind in _RETICKS for edge in diff(*change)):
            return True
    return False


@dataclass
class Unticker:
    """Unticks boxes of one issue for one delivery."""

    client: GitLab
    project_id: int
    iid: int
    later: Callable[[], Sequence[Delivery]]  # the issue's deliveries after this one, read afresh

    def untick(self, step: str) -> UntickReport:
        """Untick `step`'s box; a GitLab error that may pass is raised, so the delivery retries."""
        try:
            return self._attempts(step)
        except TransientGitLabError:
            raise
        except GitLabError as exc:
            return UntickReport(False, GITLAB_REFUSED.format(error=exc))

    def _attempts(self, step: str) -> UntickReport:
        for _ in range(UNTICK_ATTEMPTS):
            if ticked_again(self.later(), step):
                return UntickReport(False, TICKED_AGAIN)
            # Checked before the read, not between read and write: a worker that lost
            # the delivery writes nothing, and the lost-update window stays one trip.
            lease.guard()
            # Read, flip, write: nothing else happens between these two requests.
            description = self._description()
            try:
                unticked = set_checked(description, step, False)
            except TaskNotFound as missing:
                return _not_found(missing)
            if unticked == description:
                return UntickReport(False, ALREADY_UNTICKED)
            self.client.set_description(self.project_id, self.iid, unticked)
            try:
                task = step_index(self._description()).find(step)
            except TaskNotFound as missing:
                return _not_found(missing)
            if not task.checked:
                return UntickReport(True)
        return UntickReport(False, KEPT_CHANGING.format(attempts=UNTICK_ATTEMPTS))

    def _description(self) -> str:
        return self.client.issue(self.project_id, self.iid).description


def _not_found(missing: TaskNotFound) -> UntickReport:
    if isinstance(missing, AmbiguousMarker):
        lines = ", ".join(map(str, missing.lines))
        return UntickReport(False, AMBIGUOUS.format(count=len(missing.copies), lines=lines))
    return UntickReport(False, STEP_NOT_FOUND)


def settle(
    outcomes: Sequence[StepOutcome], unticker: Unticker, store: Store, delivery_key: str
) -> list[StepOutcome]:
    """Untick every refused step, and return the outcomes carrying each untick's result.

    Safe to run again after a crash: the result is remembered under
    ``<delivery>:<step>:untick`` and replayed. A worker that died between unticking and
    remembering finds the box unticked on its next run; the ``:untick-started`` record
    tells it that was its own doing, so the comment still says the box was unticked.
    """
    settled: list[StepOutcome] = []
    for outcome in outcomes:
        if not outcome.untick:
            settled.append(outcome)
            continue
        key = f"{delivery_key}:{outcome.step}:untick"
        report = _recalled(store.recall(key))
        if report is None:
            started = f"{key}-started"
            tried_before = store.recall(started) is not None
            if not tried_before:
                store.remember(started, True)
            report = unticker.untick(outcome.step)
            if tried_before and report == UntickReport(False, ALREADY_UNTICKED):
                report = UntickReport(True)
            store.remember(key, dataclasses.asdict(report))
        settled.append(dataclasses.replace(outcome, unticked=report.done, untick_why=report.why))
    return settled


def _recalled(data: Any) -> UntickReport | None:
    if not isinstance(data, dict):
        return None
    return UntickReport(done=bool(data.get("done")), why=data.get("why"))
