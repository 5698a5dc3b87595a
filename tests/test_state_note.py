"""The state note and change comments as text, and the queue's coalescing and order."""

from __future__ import annotations

import sqlalchemy as sa

from flags.database import make_engine
from flags.results import Change, EnvironmentState
from flags.state import OFF, ON, FlagState
from gitlab_ops import issue_updates
from templates.state_note import (
    REMOVED,
    STATE_NOTE_MARKER,
    change_comment,
    state_note,
    state_phrase,
    update_marker,
)


def env(name: str, state: FlagState = OFF, default: bool = False) -> EnvironmentState:
    return EnvironmentState(name, state, default)


def test_each_gate_in_words() -> None:
    assert state_phrase(env("dev", ON)) == "on"
    assert state_phrase(env("dev", OFF, default=True)) == "off (default)"
    assert state_phrase(env("dev", ON, default=True)) == "on (default)"
    assert state_phrase(env("dev", FlagState(percentage_of_actors=12.5))) == "12.5% of actors"
    assert state_phrase(env("dev", FlagState(percentage_of_time=5))) == "5% of time"
    mixed = FlagState(percentage_of_actors=25, actors=frozenset({"User:2", "Group:9"}))
    assert state_phrase(env("dev", mixed)) == "25% of actors; actors on: Group:9, User:2"
    groups = FlagState(groups=frozenset({"gitlab_team_members"}))
    assert state_phrase(env("dev", groups)) == "feature groups on: gitlab_team_members"
    assert state_phrase(env("dev", OFF, default=True), defined=False) == REMOVED


def test_the_note_starts_with_its_marker_and_has_one_row_per_environment() -> None:
    body = state_note(
        "my_flag",
        [
            env("dev", ON),
            env("staging", OFF, True),
            env("production", FlagState(percentage_of_actors=12.5)),
        ],
    )
    assert body.startswith(STATE_NOTE_MARKER + "\n")
    assert "| dev | on |\n| staging | off (default) |\n| production | 12.5% of actors |\n" in body
    assert "definition is gone" not in body
    gone = state_note("my_flag", [env("dev", OFF, True)], defined=False)
    assert "| dev | removed |" in gone and "definition is gone" in gone


def test_a_value_cannot_reshape_the_table_or_hide_text() -> None:
    odd = FlagState(groups=frozenset({"a|b", "x<!--y"}))
    body = state_note("my_flag", [env("dev", odd)])
    assert "| dev | feature groups on: a\\|b, x&lt;!--y |" in body
    assert body.count("<!--") == 1


def test_a_change_comment_says_who_where_and_before_after() -> None:
    change = Change("dev", env("dev", OFF, True), env("dev", FlagState(percentage_of_time=10.5)))
    same = Change("staging", env("staging", ON), env("staging", ON))
    body = change_comment(
        "k1",
        who="nik",
        source="a terminal",
        flag="my_flag",
        command="feature set my_flag 10.5 --random --dev --staging",
        changes=[change, same],
    )
    assert body.startswith(update_marker("k1") + "\n")
    assert "**nik** changed `my_flag` from a terminal:" in body
    assert "| dev | off (default) | 10.5% of time |" in body
    assert "| staging | on | unchanged |" in body


def test_refreshes_coalesce_while_pending_and_updates_go_in_order(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert issue_updates.enqueue(engine, 1, 7, "f", comment="first") == []
        assert issue_updates.enqueue(engine, 1, 7, "f", comment="second") == []
        assert issue_updates.enqueue(engine, 1, 8, "f") == []
        kinds = [(u.issue_iid, u.kind, u.body) for u in issue_updates.listing(engine)]
        assert kinds == [
            (7, issue_updates.COMMENT, "first"),
            (7, issue_updates.STATE_NOTE, None),
            (7, issue_updates.COMMENT, "second"),
            (8, issue_updates.STATE_NOTE, None),
        ]
        # Issue 7 in order, one update at a time; issue 8 alongside.
        first = issue_updates.claim(engine, "w1", lease=60)
        other = issue_updates.claim(engine, "w2", lease=60)
        assert first is not None and other is not None
        assert (first.issue_iid, first.body, other.issue_iid) == (7, "first", 8)
        assert issue_updates.claim(engine, "w3", lease=60) is None
        issue_updates.complete(engine, first.id, "w1")
        refresh = issue_updates.claim(engine, "w1", lease=60)
        assert refresh is not None and refresh.kind == issue_updates.STATE_NOTE
        # Claimed, a refresh may render too early: a new request queues another.
        issue_updates.enqueue(engine, 1, 7, "f")
        pending = issue_updates.listing(engine, [issue_updates.PENDING])
        assert [(u.issue_iid, u.kind) for u in pending] == [
            (7, issue_updates.COMMENT),
            (7, issue_updates.STATE_NOTE),
        ]
        # A caller asking for a lease gets none while an earlier update is open.
        assert issue_updates.enqueue(engine, 1, 7, "f", comment="x", lease_to="cli") == []
        assert issue_updates.enqueue(engine, 1, 9, "f", comment="y", lease_to="cli") != []
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM issue_updates"))
        engine.dispose()
