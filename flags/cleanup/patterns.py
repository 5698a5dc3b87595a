"""Regular expressions over raw text, to pick the files worth parsing."""

from __future__ import annotations

import re
from collections.abc import Iterable


def word_pattern(names: Iterable[str]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, sorted(names)))})\b")


def identifiers_in(texts: Iterable[str]) -> set[str]:
    return {word for text in texts for word in _IDENTIFIER.findall(text)}


def mention_pattern(flag: str) -> re.Pattern[str]:
    """Text a leftover can be in: the name, or a run of its words glued to `_`, `{`, `}`."""
    words = flag.split("_")
    runs = {"_".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
    alternatives = "|".join(sorted((re.escape(r) for r in runs if len(r) >= 3), key=len))
    if not alternatives:
        return re.compile(re.escape(flag))
    return re.compile(rf"{re.escape(flag)}|[_{{}}](?:{alternatives})|(?:{alternatives})[_{{}}]")


def call_pattern(methods: Iterable[str]) -> re.Pattern[str]:
    """A call of one of `methods` (a file without one holds no check)."""
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, sorted(methods)))})\s*\(")


STRING_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*\s*(?::[^=\n]*)?=\s*[rRuU]?['\"]", re.MULTILINE)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
