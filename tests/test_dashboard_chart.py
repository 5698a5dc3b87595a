"""The flag page's chart as numbers: the replayed rollout and its SVG geometry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flags.state import FlagState, default_state
from flags.store import AuditRecord, Snapshot
from webhook.dashboard import chart
from webhook.dashboard.instance_states import last_set, with_instances
from webhook.dashboard.render import shown_path
from webhook.dashboard.rollout_series import Point, Series, replay
from webhook.dashboard.when import ago, when

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ENVS = ("staging", "production")


def row(minutes: int, env: str, gate: str, before: object, after: object, id: int) -> AuditRecord:
    return AuditRecord(
        environment=env,
        flag="f",
        action="set",
        gate=gate,
        before=before,
        after=after,
        who="alice",
        source="cli",
        at=T0 + dt.timedelta(minutes=minutes),
        id=id,
    )


RAMP = [
    row(0, "staging", "boolean", False, True, 1),
    row(10, "production", "percentage_of_actors", 0, 25, 2),
    row(20, "production", "actors", [], ["Group:9970"], 3),
    row(30, "production", "percentage_of_actors", 25, 50, 4),
    row(40, "production", "boolean", False, True, 5),
    row(50, "production", "all", {"boolean": True}, None, 6),  # feature delete
]


def test_replay_gives_the_effective_percentage_after_every_audit_row() -> None:
    staging, production = replay(reversed(RAMP), ENVS, default_enabled=False, start=T0)
    assert [(p.percent, p.targets) for p in staging.points] == [(100, 0)]
    assert [(p.percent, p.targets) for p in production.points] == [
        (25, 0),
        (25, 1),
        (50, 1),
        (100, 1),
        (0, 0),  # deleted: back to the definition's default, off
    ]
    assert [p.audit_id for p in production.points] == [2, 3, 4, 5, 6]
    assert production.initial.percent == 0


def test_a_delete_returns_to_a_default_on_flag_and_unknown_environments_follow() -> None:
    rows = [row(0, "canary", "boolean", True, False, 1), row(5, "canary", "all", None, None, 2)]
    (*_, canary) = replay(rows, ENVS, default_enabled=True, start=T0)
    assert canary.environment == "canary"
    assert canary.initial.percent == 100
    assert [p.percent for p in canary.points] == [0, 100]


def test_percentage_of_time_counts_as_the_effective_percentage() -> None:
    rows = [row(0, "production", "percentage_of_time", 0, 12.5, 1)]
    _, production = replay(rows, ENVS, default_enabled=False, start=T0)
    assert production.points[0].percent == 12.5


def _series() -> list[Series]:
    return replay(RAMP, ENVS, default_enabled=False, start=T0)


def test_geometry_steps_through_every_point_and_spans_the_time_axis() -> None:
    now = T0 + dt.timedelta(hours=2)
    drawn = chart.draw(_series(), [], now)
    staging, production = drawn.lines
    assert drawn.start < T0 and drawn.end > now
    # x grows with time; y: 0% at the bottom, 100% at the top (each line nudged apart).
    xs = [m.x for m in production.markers]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert chart.LEFT < xs[0] and xs[-1] < chart.RIGHT
    ys = [m.y for m in production.markers]
    nudge = chart.NUDGE
    height = chart.ROLLOUT_BOTTOM - chart.ROLLOUT_TOP
    assert ys == [chart.ROLLOUT_BOTTOM - pct / 100 * height - nudge for pct in (25, 25, 50, 100, 0)]
    # A step line: start, two corners per change, then flat to the end of the axis.
    coords = [tuple(map(float, pair.split(","))) for pair in production.points.split()]
    assert len(coords) == 2 + 2 * len(production.markers)
    assert coords[0] == (chart.LEFT, chart.ROLLOUT_BOTTOM - nudge)
    assert coords[-1][1] == coords[-2][1]
    for (x1, _), (x2, _) in zip(coords[1:-1:2], coords[2:-1:2], strict=True):
        assert x1 == x2  # vertical risers at each change
    assert staging.markers[0].at == T0.isoformat()
    assert [m.targets for m in production.markers] == [0, 1, 1, 1, 0]
    assert [t.label for t in drawn.y_ticks] == ["0%", "25%", "50%", "75%", "100%"]


def test_events_per_hour_share_the_time_axis() -> None:
    hours = [(T0, 10), (T0 + dt.timedelta(hours=1), 40)]
    drawn = chart.draw(_series(), hours, T0 + dt.timedelta(minutes=90))
    first, second = drawn.bars
    assert drawn.events_max == 40
    assert second.height == chart.EVENTS_BOTTOM - chart.EVENTS_TOP
    assert first.height == second.height / 4
    assert first.x + first.width == second.x
    # The hour that held the first change starts where that change is drawn.
    assert first.x == drawn.lines[0].markers[0].x
    assert drawn.end >= T0 + dt.timedelta(hours=2)


def test_the_summary_says_the_chart_in_words() -> None:
    hours = [(T0, 10), (T0 + dt.timedelta(hours=1), 40)]
    staging, production = chart.summary(_series(), hours)[:2]
    assert staging == "staging: 0% → 100%; 1 change, the last at 2026-03-02 09:00:00 UTC."
    assert production.startswith("production: 0% → 25% → 50% → 100% → 0%; 5 changes")
    assert chart.summary(_series(), hours)[-1] == (
        "Tracked events: 50 in 2 hours with events, at most 40 in one hour "
        "(from 2026-03-02 10:00:00 UTC)."
    )
    assert chart.summary(_series(), None)[-1].startswith("production")
    never = Series("dev", Point(T0, 0, 0, None), ())
    assert chart.summary([never], [])[0] == "dev: never changed, 0% by default."


def test_an_empty_history_still_draws_an_axis() -> None:
    drawn = chart.draw([], [], T0)
    assert drawn.lines == () and drawn.bars == ()
    assert drawn.start < T0 - dt.timedelta(minutes=59) and drawn.end > T0


def test_times_read_in_utc_with_how_long_ago() -> None:
    naive = dt.datetime(2026, 3, 2, 9, 0)  # SQLite's: UTC without a zone
    shown = when(naive, T0 + dt.timedelta(hours=3, minutes=5))
    assert shown.utc == "2026-03-02 09:00:00 UTC"
    assert shown.relative == "3 hours ago"
    assert shown.iso == "2026-03-02T09:00:00+00:00"
    assert ago(T0, T0) == "just now"
    assert ago(T0, T0 + dt.timedelta(days=1)) == "1 day ago"
    assert ago(T0 + dt.timedelta(seconds=30), T0) == "in 30 seconds"


def test_many_hours_are_summed_into_buckets_that_fit_the_width() -> None:
    hours = [(T0 + dt.timedelta(hours=h), 1 + h % 3) for h in range(chart.MAX_BARS * 2 + 1)]
    buckets = chart.bucketed(hours)
    assert {size for _, _, size in buckets} == {3}
    assert len(buckets) <= chart.MAX_BARS
    assert sum(events for _, events, _ in buckets) == sum(events for _, events in hours)
    assert buckets[1] == (T0 + dt.timedelta(hours=3), 1 + 2 + 3, 3)
    drawn = chart.draw([], hours, T0)
    assert drawn.hours_per_bar == 3 and len(drawn.bars) == len(buckets)
    assert chart.bucketed(hours[:5]) == [(hour, events, 1) for hour, events in hours[:5]]


def test_a_definitions_file_is_shown_from_where_the_service_runs_or_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = tmp_path / "config" / "feature_flags" / "development" / "f.yml"
    monkeypatch.chdir(tmp_path)
    assert shown_path(str(inside)) == "config/feature_flags/development/f.yml"
    assert shown_path("/srv/elsewhere/secret/f.yml") == "f.yml"


def test_an_instances_states_are_replayed_from_the_bots_own_audit_rows() -> None:
    default = default_state(False)
    replayed = last_set(RAMP[:-1], lambda _name: default)  # all but the final delete
    assert replayed["staging"]["f"] == FlagState(boolean=True)
    production = replayed["production"]["f"]
    assert production.boolean and production.percentage_of_actors == 50
    assert list(production.actors) == ["Group:9970"]
    assert "f" not in last_set(RAMP, lambda _name: default).get("production", {})
    database = Snapshot(7, {"staging": {"g": FlagState(boolean=True)}, "production": {}})
    merged = with_instances(database, {"production": "gitlab.example.com"}, replayed)
    assert merged.version == 7
    assert merged.get("staging", "g") == FlagState(boolean=True)  # the database's, untouched
    assert merged.get("production", "f") == production
    assert with_instances(database, {}, replayed) is database
