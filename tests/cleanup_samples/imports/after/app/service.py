"""Stage service."""

from __future__ import annotations

import json
import sys

from app.legacy import legacy_export, normalize
from flags import engine  # noqa: F401  (kept for plugins that patch it)

__all__ = ["export", "legacy_export"]


def export(flags, stage):
    data = normalize(stage)
    return json.dumps(data)


def legacy_dir():
    return sys.prefix
