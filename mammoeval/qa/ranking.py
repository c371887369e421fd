"""Per-image quality score from the QA checks, and best/worst picking for report galleries.

quality_score in [0, 1], higher = better: the worst detector decides, ``min over detectors of
1 - min(1, score / (2 * threshold))`` (a flagged detector gives at most 0.5), times 0.75 when the
predicted view disagrees with the given one; 0 for a broken image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from mammoeval.qa.artifacts import Finding

VIEW_MISMATCH_FACTOR = 0.75


class Ranked(Protocol):
    """What best/worst picking reads from a per-image QA row (`mammoeval.qa.scan.ImageQA`)."""

    @property
    def id(self) -> str: ...

    @property
    def quality_score(self) -> float: ...


RowT = TypeVar("RowT", bound=Ranked)


def compute_quality_score(findings: Sequence[Finding], *, view_agrees: bool | None) -> float:
    """Return the quality score of one image from its findings.

    Args:
        findings: one Finding per detector.
        view_agrees: whether the predicted view matches the given one (None = no given view).
    """
    q = 1.0
    for f in findings:
        if f.name == "broken" and f.flag:
            return 0.0
        q = min(q, 1.0 - min(1.0, max(0.0, f.score) / (2.0 * f.threshold)))
    if view_agrees is False:
        q *= VIEW_MISMATCH_FACTOR
    return float(q)


def pick_best_worst(rows: Sequence[RowT], *, n: int) -> tuple[list[RowT], list[RowT]]:
    """Return (best n, worst n) rows by quality score; ties are broken by id for a stable order."""
    ordered = sorted(rows, key=lambda r: (-r.quality_score, r.id))
    return ordered[:n], list(reversed(ordered))[:n]
