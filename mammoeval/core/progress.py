"""The one progress helper: a rich bar on long steps, nothing when disabled.

Every long step (ingest, phantom writing, training, scoring, QA, report) shows the same bar on
stderr: description, bar, done/total, time remaining (and, on request, time elapsed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


class Bar:
    """One task of a rich progress display; every method is a no-op when the bar is disabled."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        """Count `n` more items done."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def update(self, *, completed: int | None = None, description: str | None = None) -> None:
        """Set the number of items done and/or the description."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, description=description)


@contextmanager
def progress_bar(description: str, *, total: int | None, completed: int = 0, enabled: bool = True,
                 transient: bool = False, elapsed: bool = False) -> Iterator[Bar]:
    """Yield a `Bar` shown while the block runs.

    Args:
        description: the text before the bar.
        total: number of items (None = unknown).
        completed: items already done (a resumed job).
        enabled: False shows nothing (``--no-progress``, tests, ranks other than 0).
        transient: remove the bar when the block ends.
        elapsed: also show the time elapsed.
    """
    if not enabled:
        yield Bar(None, None)
        return
    columns: list[ProgressColumn] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if elapsed:
        columns.append(TimeElapsedColumn())
    columns.append(TimeRemainingColumn())
    with Progress(*columns, transient=transient) as progress:
        yield Bar(progress, progress.add_task(description, total=total, completed=completed))


def track(items: Iterable[T], description: str, *, total: int | None = None, enabled: bool = True,
          transient: bool = True) -> Iterator[T]:
    """Yield `items`, advancing a bar by one per item (see `progress_bar`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total=total, enabled=enabled, transient=transient) as bar:
        for item in items:
            yield item
            bar.advance()
