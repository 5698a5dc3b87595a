"""The pages' Jinja environment: templates are `.j2` files beside this module.

Autoescaping is on for every template (Flask's own environment escapes only
`.html`-like names, and these are `.j2`), and undefined names fail loudly in
tests instead of rendering as blanks.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from webhook.dashboard import instance_states, svg_marks

# Only absolute http(s) URLs become links. Autoescaping keeps a URL from breaking out of
# its attribute but not from being `javascript:` or `data:`, and the URLs come from
# definition files and issues anyone may edit; browsers also drop tabs and newlines and
# leading blanks from a URL, so any whitespace or control character disqualifies it.
# https://html.spec.whatwg.org/multipage/browsing-the-web.html#the-javascript:-url-special-case
LINKABLE = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


@functools.cache
def environment() -> Environment:
    made = Environment(
        loader=PackageLoader("webhook.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    made.globals.update(svg_point=svg_marks.point, svg_bar=svg_marks.bar)
    made.filters["shown_path"] = shown_path
    made.tests["linkable"] = linkable
    made.globals["instance_note"] = instance_states.NOTE
    return made


def shown_path(path: str) -> str:
    """A definition's file relative to where the service runs: the server's own folders
    are nobody's business on a page, and the repository path is what people look for."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return Path(path).name


def linkable(url: object) -> bool:
    return isinstance(url, str) and LINKABLE.fullmatch(url) is not None


def page(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
