"""Editing a definition file in place: one line changes, order and comments stay."""

from __future__ import annotations

import re

from flags.definitions import TYPES, Definition
from flags.errors import Refusal

DEFAULT_ENABLED = re.compile(
    r"^(?P<key>default_enabled:[ \t]*)(?P<value>true|false)(?P<rest>[ \t]*(#.*)?)$", re.MULTILINE
)


def with_default_enabled(text: str, definition: Definition) -> str:
    """The file with `default_enabled: true`; unchanged when it already is."""
    if not TYPES.get(definition.type, False):
        allowed = ", ".join(t for t, ok in TYPES.items() if ok)
        raise Refusal(
            f"'{definition.name}' is a {definition.type} flag, which cannot be default-enabled "
            f"(only {allowed} can)"
        )
    matches = list(DEFAULT_ENABLED.finditer(text))
    if len(matches) != 1:
        raise Refusal(f"{definition.path} has no single `default_enabled: true|false` line")
    match = matches[0]
    if match["value"] == "true":
        return text
    return text[: match.start("value")] + "true" + text[match.end("value") :]
