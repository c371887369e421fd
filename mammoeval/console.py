"""What the command line prints besides results: warnings once per run, as one line each.

`warnings_once()` replaces Python's warning display for the duration of one command: each
distinct message is printed once as ``warning: <message>`` on stderr, without the file, line
number and source line Python adds. Messages are compared by text, so a warning raised again
after a library resets the warning registry (``warnings.catch_warnings`` does) is still printed
once. Nothing is changed outside the block.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import Any, TextIO


def format_warning(message: Warning | str) -> str:
    """Return the one-line form of a warning: ``warning: <first line of the message>``."""
    text = str(message).strip()
    first = text.splitlines()[0] if text else type(message).__name__
    return f"warning: {first}"


@contextlib.contextmanager
def warnings_once(stream: TextIO | None = None) -> Iterator[set[str]]:
    """Print each distinct warning message once, as one line, while the block runs; yield the set of lines printed.

    Args:
        stream: where to print (default: sys.stderr at the time of each warning).
    """
    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        text = format_warning(message)
        if text in seen:
            return
        seen.add(text)
        out = stream if stream is not None else sys.stderr
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed stream must not turn a warning into a crash
            pass

    with warnings.catch_warnings():
        # "always" hands every occurrence to `show`, which deduplicates by text: the default action
        # would repeat a message whenever a library resets the registry.
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        previous: Any = warnings.showwarning
        warnings.showwarning = show
        try:
            yield seen
        finally:
            warnings.showwarning = previous
