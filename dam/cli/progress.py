"""Progress bars for long commands: drawn on stderr only when it is a terminal.

In a pipe, a log or a test nothing is drawn; the command's final summary line is printed either
way by the command itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Report = Callable[[int, int], None]


@contextmanager
def progress(description: str) -> Iterator[Report]:
    """Yield `report(done, total)`; a bar on a terminal, nothing otherwise."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield _ignore
        return
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield report


def _ignore(done: int, total: int) -> None:
    pass
