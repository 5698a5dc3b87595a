"""The bot's comments, rendered from templates; a hidden marker makes each findable."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from templates.render import Markdown, render
from webhook.step_outcome import OVERRIDE_FLAG, RETRY_HINT, UNTICK_NOTE, StepOutcome


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
                    "environment": environment,
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
                "environment": environment,
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


def _outcome_context(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "text": outcome.text,
        "command": outcome.command,
        "reason": _reason(outcome.reason),
        "untick": outcome.untick,
        "unticked": outcome.unticked,
        "untick_why": outcome.untick_why,
        "step": outcome.step,
        "rows": card_rows(outcome.card),
        "answer": Markdown(outcome.answer) if outcome.answer else None,
        "override": outcome.status == "applied" and OVERRIDE_FLAG in (outcome.command or ""),
    }


def _now(at: dt.datetime | None) -> str:
    return (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")


def step_comment(
    delivery_key: str, username: str, outcomes: Sequence[StepOutcome], at: dt.datetime | None = None
) -> str:
    return render(
        "step_comment.md.j2",
        delivery_key=delivery_key,
        username=username,
        outcomes=[_outcome_context(o) for o in outcomes],
        at=_now(at),
        retry_hint=RETRY_HINT,
        untick_note=UNTICK_NOTE,
    )


def command_comment(
    delivery_key: str, username: str, outcome: StepOutcome, at: dt.datetime | None = None
) -> str:
    return render(
        "command_comment.md.j2",
        delivery_key=delivery_key,
        username=username,
        outcome=_outcome_context(outcome),
        at=_now(at),
    )
