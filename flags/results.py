"""What a `feature` command found or did: the data behind its result card."""

from __future__ import annotations

from dataclasses import dataclass

from flags.definitions import Definition
from flags.grammar import FeatureCommand
from flags.state import FlagState


@dataclass(frozen=True)
class EnvironmentState:
    environment: str
    state: FlagState
    is_default: bool  # never set there: the definition's default applies


@dataclass(frozen=True)
class Change:
    environment: str
    before: EnvironmentState
    after: EnvironmentState

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Result:
    command: FeatureCommand
    definitions: tuple[Definition, ...]
    changes: tuple[Change, ...] = ()  # set and delete
    states: tuple[tuple[str, tuple[EnvironmentState, ...]], ...] = ()  # get and list
