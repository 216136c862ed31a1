"""A progress bar on stderr for work that takes more than about a second.

Usage::

    from forecast.progress import progress

    with progress("Projecting draws", total=len(chunks), quiet=quiet) as advance:
        for chunk in chunks:
            ...            # the work
            advance()      # or advance(n) after n units of work

`progress(description, total, quiet)` is a context manager that yields
`advance(n=1, total=None)`. The bar (rich) is drawn on stderr, so nothing printed to stdout
changes, and it is removed when the block ends. `total=None` draws a pulsing bar for work of
unknown size; work that learns its size later says it with `advance(0, total=N)`, and the bar
then counts (the draws: municipalities done out of all).

It draws nothing, and `advance` does nothing, when `quiet` is true or when stderr is not a
terminal (a pipe, a file, a test runner). rich decides what a terminal is, so FORCE_COLOR=1
or TTY_COMPATIBLE=1 in the environment shows the bar where it would otherwise be hidden.
Only the caller (the CLI) decides about `quiet`: computing code takes an `advance`
callable, never prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


def _nothing(n: float = 1, total: float | None = None) -> None:
    return None


@contextlib.contextmanager
def progress(description: str, total: float | None, quiet: bool = False
             ) -> Iterator[Callable[..., None]]:
    """Show a bar for `total` units of work; yield `advance(n=1, total=None)`. See the
    module docstring."""
    if quiet:
        yield _nothing
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _nothing
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)
    from rich.text import Text

    class Count(MofNCompleteColumn):   # "done/total" once the total is known, else nothing
        def render(self, task):
            return Text("") if task.total is None else super().render(task)

    columns = [TextColumn("{task.description}"), BarColumn(), Count(), TimeElapsedColumn()]
    # no redirection of stdout: nothing is printed while the bar is drawn, and a wrapped
    # sys.stdout would outlive the bar in modules that keep a reference to it
    with Progress(*columns, console=console, transient=True, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1, total: float | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, n)

        yield advance
