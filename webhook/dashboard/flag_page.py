"""One flag's page as data: its definition, its audit timeline and its chart; pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flags.definitions import Definition
from flags.results import audit_value
from flags.store import AuditRecord
from webhook.dashboard import chart
from webhook.dashboard.grid import FlagRow
from webhook.dashboard.reads import NoteLink
from webhook.dashboard.rollout_series import Series, replay
from webhook.dashboard.when import When, when

OVERRIDDEN = "--ignore-feature-flag-consistency-check"


@dataclass(frozen=True)
class Change:
    record: AuditRecord
    when: When
    before: str
    after: str
    link: NoteLink | None
    overridden: bool


@dataclass(frozen=True)
class FlagPage:
    row: FlagRow
    definition: Definition | None
    changes: tuple[Change, ...]  # newest first
    series: tuple[Series, ...]
    hours: tuple[tuple[dt.datetime, int], ...]
    chart: chart.Chart
    summary: tuple[str, ...]
    tracked: bool  # the tracking flag: its events per hour are drawn under the rollout

    def history_dict(self) -> dict[str, Any]:
        """`/api/flags/NAME/history`: the audit rows as `feature history --json` prints
        them, and the chart's data."""
        return {
            "flag": self.row.as_dict(),
            "definition": self.definition.as_dict() if self.definition else None,
            "history": [
                {
                    **change.record.as_dict(),
                    "link": change.link.url if change.link else None,
                }
                for change in self.changes
            ],
            "series": [one.as_dict() for one in self.series],
            "events_per_hour": [
                {"hour": hour.isoformat(), "events": events} for hour, events in self.hours
            ],
        }


def flag_page(
    row: FlagRow,
    records: Sequence[AuditRecord],
    links: Mapping[str, NoteLink],
    hours: Sequence[tuple[dt.datetime, int]],
    environments: Sequence[str],
    now: dt.datetime,
    *,
    tracked: bool = False,
) -> FlagPage:
    """`records` newest first; `hours` the tracked table's events per hour, oldest first."""
    definition = row.definition
    changes = tuple(
        Change(
            record=record,
            when=when(record.at, now),
            before=audit_value(record.before),
            after=audit_value(record.after),
            link=links.get(record.delivery) if record.delivery else None,
            overridden=bool(record.command and OVERRIDDEN in record.command),
        )
        for record in records
    )
    first = min((record.at for record in records), default=now)
    series = tuple(
        replay(
            records,
            environments,
            default_enabled=bool(definition and definition.default_enabled),
            start=first,
        )
    )
    return FlagPage(
        row=row,
        definition=definition,
        changes=changes,
        series=series,
        hours=tuple(hours),
        chart=chart.draw(series, hours, now),
        summary=tuple(chart.summary(series, hours if tracked else None)),
        tracked=tracked,
    )
