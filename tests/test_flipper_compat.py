"""Flipper's percentage_of_actors bucketing, pinned by vectors and properties."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flags.evaluation import bucket, compile_state, percentage_of_actors_open
from flags.state import FlagState

# crc32(f"{flag}{actor}") % 100_000, as Flipper's Ruby computes it with Zlib.crc32.
VECTORS = [
    ("red_feature", "User:1", 96976),
    ("red_feature", "User:2", 15914),
    ("red_feature", "User:3", 16924),
    ("blue_feature", "User:1", 1614),
    ("product_intelligence_database_event_tracking", "Group:9970", 96583),
    ("product_intelligence_database_event_tracking", "Group:1", 72543),
    ("product_intelligence_database_event_tracking", "Project:278964", 83516),
    ("product_intelligence_database_event_tracking", "User:1", 76675),
    ("achievements", "Namespace:22", 35494),
    ("achievements", "Project:13083", 42899),
    ("a", "b", 3885),
    ("search", "User:123456789", 87012),
    ("ci_lint_mutation", "Project:1", 19617),
    ("ci_lint_mutation", "Project:2", 88635),
    ("auto_disabling_web_hooks", "Group:6543", 99929),
    ("x", "Group:0", 91366),
    ("feature_flag", "Flipper::Actor;1", 78599),
    ("allow_possible_spam", "User:42", 27757),
    ("null_hypothesis", "Group:100", 52018),
    ("composite_identity", "User:7", 11632),
]


def test_the_documented_vector() -> None:
    assert zlib.crc32(b"red_featureUser:1") % 100000 == 96976
    assert bucket("red_feature", ["User:1"]) == 96976


@pytest.mark.parametrize(("flag", "actor", "expected"), VECTORS)
def test_bucket_vectors(flag: str, actor: str, expected: int) -> None:
    assert bucket(flag, [actor]) == expected
    # The threshold is strict: on at a percentage just above bucket/1000, off at it.
    assert percentage_of_actors_open(flag, [actor], expected / 1000 + 0.001)
    assert not percentage_of_actors_open(flag, [actor], expected / 1000)


@pytest.mark.parametrize(("flag", "actor", "expected"), VECTORS)
def test_compiled_evaluator_matches_vectors(flag: str, actor: str, expected: int) -> None:
    for pct in (0, 1, 25, 50, 96.976, 96.977, 99.999, 100):
        on = compile_state(flag, FlagState(percentage_of_actors=pct), {})(actor)
        assert on is (expected < pct * 1000)


def test_several_actors_are_sorted_and_joined() -> None:
    assert bucket("red_feature", ["User:2", "User:1"]) == 96115
    assert bucket("red_feature", ["User:1", "User:2"]) == 96115
    evaluate = compile_state("red_feature", FlagState(percentage_of_actors=96.116), {})
    assert evaluate(["User:2", "User:1"]) is True
    evaluate = compile_state("red_feature", FlagState(percentage_of_actors=96.115), {})
    assert evaluate(["User:2", "User:1"]) is False


def test_no_actor_is_off_at_any_percentage_below_full() -> None:
    assert compile_state("red_feature", FlagState(percentage_of_actors=99.999), {})(None) is False


actor_ids = st.builds(
    lambda kind, n: f"{kind}:{n}",
    st.sampled_from(["User", "Group", "Project", "Namespace"]),
    st.integers(min_value=0, max_value=10**9),
)
percentages = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(actor=actor_ids, low=percentages, high=percentages)
def test_raising_the_percentage_never_turns_an_actor_off(
    actor: str, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    if percentage_of_actors_open("some_flag", [actor], low):
        assert percentage_of_actors_open("some_flag", [actor], high)


@settings(max_examples=30)
@given(pct=st.integers(min_value=10, max_value=90))
def test_two_flags_at_one_percentage_enable_different_actors(pct: int) -> None:
    actors = [f"User:{n}" for n in range(2_000)]
    first = {a for a in actors if percentage_of_actors_open("first_flag", [a], pct)}
    second = {a for a in actors if percentage_of_actors_open("second_flag", [a], pct)}
    assert first != second
    # The flag name salts the bucket: the sets overlap as independent draws would
    # (pct% of pct%), not as one shared ordering of actors would (pct%).
    share = pct / 100
    assert abs(len(first & second) / len(actors) - share * share) < 0.05
    assert len(first - second) > 0.5 * len(actors) * share * (1 - share)


@pytest.mark.parametrize("pct", [1, 5, 25, 50, 75, 99])
def test_share_over_ten_thousand_actors_is_within_two_points(pct: int) -> None:
    actors = [f"Group:{n}" for n in range(10_000)]
    on = sum(
        percentage_of_actors_open("product_intelligence_database_event_tracking", [a], pct)
        for a in actors
    )
    assert abs(on / 100 - pct) <= 2
