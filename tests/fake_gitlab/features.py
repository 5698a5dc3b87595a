"""`POST /features/:name` semantics: Flipper gates as GitLab's Features API sets them.

https://docs.gitlab.com/api/features/#set-or-create-a-feature. A boolean `value`
with targets (user, group, project, namespace, feature_group) adds or removes
those actors; without targets, `true` enables the boolean gate and `false`
disables the feature, both clearing the other gates (Flipper's adapters do).
A number sets `percentage_of_time` (the default `key`) or `percentage_of_actors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fake_gitlab.models import Feature, Group
from tests.fake_gitlab.state import NotFound, State


class BadRequest(ValueError):
    """Answered as 400 with the message."""


def set_feature(state: State, name: str, params: Mapping[str, Any]) -> Feature:
    if "value" not in params:
        raise BadRequest("value is missing")
    value = str(params["value"]).strip().lower()
    with state.lock:
        actors = _targets(state, params)
        groups = _split(params.get("feature_group"))
        feature = state.features.setdefault(name, Feature(name=name))
        # GitLab's gate_value: "0" is false, so a percentage of 0 disables the whole flag.
        if value in ("true", "false", "0"):
            enable = value == "true"
            if actors or groups:
                _toggle(feature.actors, actors, enable)
                _toggle(feature.groups, groups, enable)
            else:
                state.features[name] = feature = Feature(name=name, boolean=enable)
            return feature
        percentage = _percentage(value)
        key = params.get("key") or "percentage_of_time"
        if key not in ("percentage_of_time", "percentage_of_actors"):
            raise BadRequest("key does not have a valid value")
        if actors or groups:
            raise BadRequest("400 Bad request - A percentage gate cannot be set for actors")
        setattr(feature, key, percentage or None)
        return feature


def _percentage(value: str) -> int | float:
    try:
        number = float(value)
    except ValueError:
        raise BadRequest("value is invalid") from None
    if not 0 <= number <= 100:
        raise BadRequest("400 Bad request - Value must be between 0 and 100")
    return int(number) if number.is_integer() else number


def _targets(state: State, params: Mapping[str, Any]) -> list[str]:
    """Flipper ids of the named actors, e.g. `User:4`, `Project:12`.

    GitLab's `Feature::Target` finds each by username or full path only
    (`find_by_full_path`), never by id; one it cannot find is a 400 "X is not found!".
    """
    ids: list[str] = []
    for kind, find in (
        ("user", state.user),
        ("group", state.group),
        ("project", state.project),
        ("namespace", state.namespace),
    ):
        for ref in _split(params.get(kind)):
            try:
                if ref.isdigit():
                    raise NotFound(ref)
                found = find(ref)
            except NotFound:
                raise BadRequest(f"400 Bad request - {ref} is not found!") from None
            if kind == "user":
                ids.append(f"User:{found.id}")
            elif kind == "project":
                ids.append(f"Project:{found.id}")
            elif isinstance(found, Group):
                ids.append(f"Group:{found.id}")
            else:
                ids.append(f"Namespace:{found.namespace_id}")
    return ids


def _toggle(gate: list[str], values: list[str], enable: bool) -> None:
    for value in values:
        if enable and value not in gate:
            gate.append(value)
        elif not enable and value in gate:
            gate.remove(value)


def _split(raw: Any) -> list[str]:
    if not raw:
        return []
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [str(item).strip() for item in items if str(item).strip()]
