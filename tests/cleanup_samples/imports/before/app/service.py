"""Stage service."""

from __future__ import annotations

import json
import os, sys
from typing import TYPE_CHECKING

from app.legacy import legacy_export, legacy_path, normalize
from flags import engine  # noqa: F401  (kept for plugins that patch it)

if TYPE_CHECKING:
    from flags.engine import Flags

__all__ = ["export", "legacy_export"]


def export(flags, stage):
    data = normalize(stage)
    if flags.enabled("product_intelligence_database_event_tracking"):
        return json.dumps(data)
    return _legacy(flags, data)


def _legacy(flags: Flags, data):
    path = os.path.join(legacy_path(), "export.json")
    flags.refresh()
    return legacy_export(data, path)


def legacy_dir():
    return sys.prefix
