"""Errors that reach the user as one line, never as a traceback.

The CLI catches `MammoevalError` and prints `str(error)`; every subclass formats a message that
names the file (where there is one) and says what to do.
"""

from __future__ import annotations

from pathlib import Path


class MammoevalError(Exception):
    """Base class: a failure the user can act on; `str()` is one line."""


class BadInputError(MammoevalError):
    """An input file or folder is unusable.

    Args:
        path: the offending file or folder.
        reason: what is wrong with it, one line.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MissingWeightsError(MammoevalError):
    """Network weights that cannot be downloaded here are absent.

    Args:
        what: which weights (e.g. "Inception weights for FID").
        fix: the one-line instruction that makes them available.
    """

    def __init__(self, what: str, fix: str) -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what} not found: {fix}")


class ConfigError(MammoevalError):
    """A configuration value or combination of options is invalid."""


class TrainingDivergedError(MammoevalError):
    """A loss became NaN or infinite; the message names the tick and the last good checkpoint."""
