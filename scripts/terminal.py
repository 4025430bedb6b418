"""The command line's terminal: one Rich console (wide lines when output is not a terminal) and
the progress bars every long command shows."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(width=None if sys.stdout.isatty() else 150)


def progress_bars(*, label: str = "{task.description}", remaining: bool = True, transient: bool = False,
                  disable: bool = False) -> Progress:
    """Bars of description, bar, done/total, elapsed (and, with ``remaining``, estimated remaining)
    time on :data:`console`."""
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=transient, disable=disable)
