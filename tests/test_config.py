"""Numeric settings: what each accepts, and the one line that refuses the rest."""

from __future__ import annotations

import pytest

from rollout_bot.config import ConfigError, Settings


def test_worker_nice_zero_leaves_the_priority_alone_as_documented() -> None:
    assert Settings.from_env({"ROLLOUT_BOT_WORKER_NICE": "0"}).worker_nice == 0
    assert Settings.from_env({}).worker_nice == 10
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ROLLOUT_BOT_WORKER_NICE": "-1"})
    assert str(caught.value) == "ROLLOUT_BOT_WORKER_NICE must be 0 or more"


@pytest.mark.parametrize("raw", ["0", "-3"])
def test_counts_must_be_positive(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ROLLOUT_BOT_WORKER_THREADS": raw})
    assert str(caught.value) == "ROLLOUT_BOT_WORKER_THREADS must be positive"


def test_a_count_that_is_not_a_number_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ROLLOUT_BOT_MAX_STEPS_PER_EDIT": "fifty"})
    assert str(caught.value) == "ROLLOUT_BOT_MAX_STEPS_PER_EDIT: 'fifty' is not a whole number"
