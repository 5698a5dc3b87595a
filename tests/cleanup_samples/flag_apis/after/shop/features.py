"""The shop's own flag API, over the rollout engine."""

from flags.engine import Flags

ENGINE: Flags | None = None


def is_on(name: str, actor: str | None = None) -> bool:
    return ENGINE is not None and ENGINE.enabled(name, actor)


def is_off(name: str, actor: str | None = None) -> bool:
    return not is_on(name, actor)
