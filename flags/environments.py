"""The environments a flag has state in, unless configured otherwise."""

from __future__ import annotations

DEFAULT_ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")
PRODUCTION = "production"
