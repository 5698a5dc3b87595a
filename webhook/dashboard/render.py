"""The pages' Jinja environment: templates are `.j2` files beside this module.

Autoescaping is on for every template (Flask's own environment escapes only
`.html`-like names, and these are `.j2`), and undefined names fail loudly in
tests instead of rendering as blanks.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("webhook.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
