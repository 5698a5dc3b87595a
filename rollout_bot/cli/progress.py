"""Progress of long CLI work, on stderr, for a person watching a terminal only.

Programs read our stdout (`--json`, `cleanup check` in CI), so the bar goes to
stderr, and only when stderr is a terminal: click's own bar prints its label
once when its file is not a TTY, which would still dirty a CI log or a
caller's captured stderr, so off a TTY nothing at all is drawn.
https://click.palletsprojects.com/en/stable/api/#click.progressbar
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

T = TypeVar("T")

# (done, total): how the lower layers report progress without knowing who watches.
Report = Callable[[int, int], None]


def _on_terminal() -> bool:
    return sys.stderr.isatty()


def _ignore(done: int, total: int) -> None:
    """Off a terminal nobody watches: reports go nowhere."""


@contextmanager
def progress(label: str) -> Iterator[Report]:
    """A `Report` that draws a bar once the work says how much there is.

    The bar starts at the first report, since the total is often known only
    then (files found, rows selected); an empty job draws nothing.
    """
    if not _on_terminal():
        yield _ignore
        return
    with ExitStack() as stack:
        bars: list[ProgressBar[int]] = []

        def report(done: int, total: int) -> None:
            if total <= 0:
                return
            if not bars:
                bar = click.progressbar(length=total, label=label, file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bar = bars[0]
            bar.length = total
            if done > bar.pos:
                bar.update(done - bar.pos)

        yield report


def tracked(items: Iterable[T], label: str, length: int) -> Iterator[T]:
    """Iterate `items`, with a bar on a terminal."""
    if not _on_terminal() or length <= 0:
        yield from items
        return
    with click.progressbar(items, length=length, label=label, file=sys.stderr) as bar:
        yield from bar
