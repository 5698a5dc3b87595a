"""Run a function in a forked child, as gunicorn forks its web processes."""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable
from typing import Any


def run_forked(target: Callable[..., None], *args: Any, timeout: float = 20.0) -> int | None:
    """The child's exit code (None if it did not end within `timeout`)."""
    with warnings.catch_warnings():
        # Python 3.12+ warns on forking a process that runs threads (other tests leave
        # servers running); gunicorn forks its web processes all the same.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = multiprocessing.get_context("fork").Process(target=target, args=args)
        child.start()
    child.join(timeout)
    return child.exitcode
