"""The flag page's chart as geometry: pure numbers for an inline SVG, drawn on the server.

Two panels on one time axis: the rollout (a step line of the effective percentage
per environment) and, under it, the tracked table's events per hour from the
tracker's own counts, so a ramp and its effect are seen together. Kept apart from
the template so the geometry is tested as numbers, not as markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from webhook.dashboard.rollout_series import Point, Series
from webhook.dashboard.when import aware, utc_text

WIDTH = 760
LEFT, RIGHT = 52.0, 744.0
ROLLOUT_TOP, ROLLOUT_BOTTOM = 16.0, 196.0
EVENTS_TOP, EVENTS_BOTTOM = 236.0, 326.0
HEIGHT = 352
X_TICKS = 5
PAD = 0.04  # of the span, each side, so the first and last steps are not on the frame
# Lines of equal value would hide each other: each environment sits a little apart.
NUDGE = 2.0
# Not colour alone: every environment has its own dash pattern too.
STYLES = (
    ("#1f77b4", ""),
    ("#d62728", "6 3"),
    ("#2ca02c", "2 3"),
    ("#9467bd", "8 3 2 3"),
    ("#ff7f0e", "4 4"),
    ("#17becf", "1 2"),
)
HOUR = dt.timedelta(hours=1)
# More bars than this would be thinner than a pixel (and a page of markup): hours are
# then summed into buckets of equal size, the smallest that fits.
MAX_BARS = 240


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    at: str  # ISO 8601, what `feature history --json` says
    percent: float
    targets: int
    title: str


@dataclass(frozen=True)
class Line:
    environment: str
    color: str
    dash: str
    points: str  # the SVG polyline's points
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    hour: str
    events: int
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lines: tuple[Line, ...]
    bars: tuple[Bar, ...]
    events_max: int  # the largest bar's events
    hours_per_bar: int
    start: dt.datetime
    end: dt.datetime


def domain(
    series: Sequence[Series], hours: Sequence[tuple[dt.datetime, int]], now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """From the first change or counted hour to now (or the end of the last hour)."""
    moments = [aware(p.at) for s in series for p in s.points]
    moments += [aware(hour) for hour, _ in hours]
    ends = [aware(now)] + [aware(hour) + HOUR for hour, _ in hours] + moments
    start = min(moments, default=aware(now) - HOUR)
    end = max(ends)
    span = max(end - start, dt.timedelta(seconds=10))
    return start - span * PAD, end + span * PAD


def bucketed(
    hours: Sequence[tuple[dt.datetime, int]],
) -> list[tuple[dt.datetime, int, int]]:
    """(first hour, events, hours per bucket): one bucket per hour while they fit in
    MAX_BARS, else buckets of `size` hours counted from the first hour."""
    if not hours:
        return []
    first = aware(hours[0][0])
    count = int((aware(hours[-1][0]) - first) / HOUR) + 1
    size = -(-count // MAX_BARS)  # ceiling division
    sums: dict[int, int] = {}
    for hour, events in hours:
        index = int((aware(hour) - first) / HOUR) // size
        sums[index] = sums.get(index, 0) + events
    return [(first + HOUR * size * index, sums[index], size) for index in sorted(sums)]


def _tick_format(span: dt.timedelta) -> str:
    if span <= dt.timedelta(minutes=10):
        return "%H:%M:%S"
    if span <= dt.timedelta(days=2):
        return "%m-%d %H:%M"
    return "%Y-%m-%d"


def _percent_text(value: float) -> str:
    return f"{int(value) if float(value).is_integer() else value}%"


def draw(
    series: Sequence[Series], hours: Sequence[tuple[dt.datetime, int]], now: dt.datetime
) -> Chart:
    """`hours`: (hour start, events) for the tracked table, oldest first."""
    start, end = domain(series, hours, now)
    seconds = (end - start).total_seconds()

    def x(moment: dt.datetime) -> float:
        offset = (aware(moment) - start).total_seconds() / seconds
        return round(LEFT + offset * (RIGHT - LEFT), 2)

    def y(percent: float, nudge: float) -> float:
        height = ROLLOUT_BOTTOM - ROLLOUT_TOP
        return round(ROLLOUT_BOTTOM - percent / 100 * height - nudge, 2)

    lines = []
    for index, one in enumerate(series):
        color, dash = STYLES[index % len(STYLES)]
        nudge = NUDGE * index
        coords = [(LEFT, y(one.initial.percent, nudge))]
        previous = one.initial
        markers = []
        for point in one.points:
            coords.append((x(point.at), y(previous.percent, nudge)))
            coords.append((x(point.at), y(point.percent, nudge)))
            markers.append(_marker(one.environment, point, x(point.at), y(point.percent, nudge)))
            previous = point
        coords.append((x(end), y(previous.percent, nudge)))
        text = " ".join(f"{a},{b}" for a, b in coords)
        lines.append(Line(one.environment, color, dash, text, tuple(markers)))

    buckets = bucketed(hours)
    size = buckets[0][2] if buckets else 1
    events_max = max((events for _, events, _ in buckets), default=0)
    bars = []
    for first, events, _ in buckets:
        last = aware(first) + HOUR * size
        left, right = x(max(aware(first), start)), x(min(last, end))
        height = 0.0 if not events_max else events / events_max * (EVENTS_BOTTOM - EVENTS_TOP)
        span = "the hour" if size == 1 else f"the {size} hours"
        bars.append(
            Bar(
                x=left,
                y=round(EVENTS_BOTTOM - height, 2),
                width=round(max(right - left, 1.0), 2),
                height=round(height, 2),
                hour=aware(first).isoformat(),
                events=events,
                title=f"{events} events in {span} from {utc_text(first)}",
            )
        )

    step = (end - start) / (X_TICKS - 1)
    fmt = _tick_format(end - start)
    x_ticks = tuple(
        Tick(x(start + step * i), (start + step * i).astimezone(dt.UTC).strftime(fmt))
        for i in range(X_TICKS)
    )
    y_ticks = tuple(Tick(y(p, 0), _percent_text(p)) for p in (0, 25, 50, 75, 100))
    return Chart(
        WIDTH, HEIGHT, x_ticks, y_ticks, tuple(lines), tuple(bars), events_max, size, start, end
    )


def _marker(environment: str, point: Point, px: float, py: float) -> Marker:
    title = f"{environment}: {_percent_text(point.percent)} at {utc_text(point.at)}"
    if point.targets:
        title += f", {point.targets} actors or groups on"
    return Marker(px, py, point.at.isoformat(), point.percent, point.targets, title)


def summary(series: Sequence[Series], hours: Sequence[tuple[dt.datetime, int]] | None) -> list[str]:
    """The chart in sentences, for screen readers and for anyone who prefers words;
    `hours` None: no events panel."""
    lines = []
    for one in series:
        if not one.points:
            lines.append(
                f"{one.environment}: never changed, "
                f"{_percent_text(one.initial.percent)} by default."
            )
            continue
        values = [one.initial.percent]
        for point in one.points:
            if point.percent != values[-1]:
                values.append(point.percent)
        steps = " → ".join(_percent_text(value) for value in values)
        last, count = one.points[-1], len(one.points)
        text = (
            f"{one.environment}: {steps}; {count} change{'' if count == 1 else 's'}, the last at "
        )
        text += utc_text(last.at)
        if last.targets:
            text += f"; {last.targets} actors or groups on"
        lines.append(text + ".")
    if hours is None:
        return lines
    total = sum(events for _, events in hours)
    if hours:
        peak_hour, peak = max(hours, key=lambda item: item[1])
        lines.append(
            f"Tracked events: {total} in {len(hours)} hour{'' if len(hours) == 1 else 's'} "
            f"with events, at most {peak} "
            f"in one hour (from {utc_text(peak_hour)})."
        )
    else:
        lines.append("Tracked events: none counted.")
    return lines
