"""The mammographic views mammoeval trains and scores on, and their integer labels.

Label contract used everywhere (datasets, trainer conditioning, metrics, QA, scores):
``0 = CC`` (cranio-caudal), ``1 = MLO`` (medio-lateral oblique), ``-1 = unknown / other``.
"""

from __future__ import annotations

from typing import Final

VIEWS: Final[tuple[str, str]] = ("CC", "MLO")
"""Trainable views, in label order."""

UNKNOWN_VIEW: Final[int] = -1

LATERALITIES: Final[tuple[str, str]] = ("L", "R")


def view_to_label(view: str | None) -> int:
    """Return the integer label of a view name (case-insensitive); -1 for anything else."""
    if not view:
        return UNKNOWN_VIEW
    v = view.strip().upper()
    return VIEWS.index(v) if v in VIEWS else UNKNOWN_VIEW


def label_to_view(label: int) -> str:
    """Return the view name for a label; "unknown" for -1 or out-of-range labels."""
    return VIEWS[label] if 0 <= label < len(VIEWS) else "unknown"
