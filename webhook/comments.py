"""The bot's comments, rendered from templates; a hidden marker makes each findable.

A comment stays within GitLab's note limit (`NOTE_LIMIT` characters): when the full
answer is longer, it is rendered again with every text over `FIELD_LIMIT`
characters (a step's text, command, reason, answer, a table cell) cut short and a
line saying so; should even that be too long, the end is cut (`fit`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

from flags.store import environment_label
from templates.render import Markdown, render
from webhook.step_outcome import OVERRIDE_FLAG, RETRY_HINT, UNTICK_NOTE, StepOutcome

# GitLab refuses notes over 1,000,000 characters (Note::MAX_NOTE_LENGTH).
NOTE_LIMIT = 1_000_000
FIELD_LIMIT = 2_000
# User-facing text, kept here so tests assert against the same words.
SHORTENED = (
    "_The full answer was {length:,} characters, over GitLab's comment limit of "
    "{limit:,}: texts longer than {field:,} characters are cut short below (marked …)._"
)
CUT_SHORT = "… ({count:,} more characters)"
TOO_MANY_STEPS = (
    ":no_entry: @{username} ticked {count} steps in one edit; the bot runs at most {limit} "
    "steps per edit, so it ran none of them and left every box as it is. Untick the steps "
    "that should not run yet, then tick the others again a few at a time."
)


def _cut(text: str | None, limit: int | None) -> str | None:
    if text is None or limit is None or len(text) <= limit:
        return text
    return text[:limit] + CUT_SHORT.format(count=len(text) - limit)


def delivery_marker(delivery_key: str) -> str:
    """What a retry looks for before commenting, so a delivery is answered once."""
    return f"<!-- rollout-bot:delivery={delivery_key} -->"


def _state(data: dict[str, Any]) -> str:
    return str(data["state"]) + (" (default)" if data.get("default") else "")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return f"{value}%"


def card_rows(card: dict[str, Any] | None) -> list[dict[str, str]]:
    """One table row per environment: state before and after, and the gates that moved."""
    rows: list[dict[str, str]] = []
    for environment, data in (card or {}).get("environments", {}).items():
        if "before" not in data:  # feature get / list: the state only
            gates = ", ".join(f"{g}: {_value(v)}" for g, v in data["gates"].items() if v)
            rows.append(
                {
                    "environment": environment_label(environment, data.get("instance")),
                    "before": _state(data),
                    "after": _state(data),
                    "changes": gates or "no gate set",
                }
            )
            continue
        before, after = data["before"], data["after"]
        moved = [
            f"{gate}: {_value(before['gates'][gate])} → {_value(value)}"
            for gate, value in after["gates"].items()
            if before["gates"][gate] != value
        ]
        rows.append(
            {
                "environment": environment_label(environment, data.get("instance")),
                "before": _state(before),
                "after": _state(after),
                "changes": "; ".join(moved) if moved else "unchanged",
            }
        )
    return rows


_CODE_OR_PLACEHOLDER = re.compile(r"(`[^`]*`)|(<[A-Za-z][A-Za-z0-9_ -]*>)")


def _reason(reason: str | None) -> str | None:
    # GitLab's sanitizer would drop `<rollout-percentage>` as an unknown HTML tag;
    # inside a code span it is shown as is.
    if reason is None:
        return None
    return _CODE_OR_PLACEHOLDER.sub(lambda m: m.group(1) or f"`{m.group(2)}`", reason)


def _outcome_context(outcome: StepOutcome, limit: int | None = None) -> dict[str, Any]:
    rows = [{k: _cut(v, limit) or "" for k, v in row.items()} for row in card_rows(outcome.card)]
    answer = _cut(outcome.answer, limit)
    return {
        "status": outcome.status,
        "text": _cut(outcome.text, limit),
        "command": _cut(outcome.command, limit),
        "reason": _cut(_reason(outcome.reason), limit),
        "untick": outcome.untick,
        "unticked": outcome.unticked,
        "untick_why": _cut(outcome.untick_why, limit),
        "step": _cut(outcome.step, limit),
        "rows": rows,
        "answer": Markdown(answer) if answer else None,
        "override": outcome.status == "applied" and OVERRIDE_FLAG in (outcome.command or ""),
    }


def _now(at: dt.datetime | None) -> str:
    return (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")


def step_comment(
    delivery_key: str, username: str, outcomes: Sequence[StepOutcome], at: dt.datetime | None = None
) -> str:
    def rendered(limit: int | None) -> str:
        return render(
            "step_comment.md.j2",
            delivery_key=delivery_key,
            username=username,
            outcomes=[_outcome_context(o, limit) for o in outcomes],
            at=_now(at),
            retry_hint=RETRY_HINT,
            untick_note=UNTICK_NOTE,
        )

    return _within_limit(rendered, delivery_key)


def command_comment(
    delivery_key: str, username: str, outcome: StepOutcome, at: dt.datetime | None = None
) -> str:
    def rendered(limit: int | None) -> str:
        return render(
            "command_comment.md.j2",
            delivery_key=delivery_key,
            username=username,
            outcome=_outcome_context(outcome, limit),
            at=_now(at),
        )

    return _within_limit(rendered, delivery_key)


def too_many_steps(delivery_key: str, username: str, count: int, limit: int) -> str:
    """The one comment of an edit that ticked more steps than the bot runs at once."""
    text = TOO_MANY_STEPS.format(username=username, count=count, limit=limit)
    return f"{delivery_marker(delivery_key)}\n{text}\n"


def _within_limit(rendered: Callable[[int | None], str], delivery_key: str) -> str:
    body = rendered(None)
    if len(body) <= NOTE_LIMIT:
        return body
    notice = SHORTENED.format(length=len(body), limit=NOTE_LIMIT, field=FIELD_LIMIT)
    marker = delivery_marker(delivery_key)
    short = rendered(FIELD_LIMIT).removeprefix(marker)
    return fit(f"{marker}\n{notice}\n{short}", delivery_key)


def fit(body: str, delivery_key: str) -> str:
    """The last guard before posting: a body over `NOTE_LIMIT` keeps its start (the
    marker and the first outcomes) and says how much was cut."""
    if len(body) <= NOTE_LIMIT:
        return body
    kept = body[: NOTE_LIMIT - 100]  # room for the line saying how much was cut
    return kept + "\n\n" + CUT_SHORT.format(count=len(body) - len(kept))
