"""The artifact detectors' public names in one import (each detector lives in `mammoeval.qa.detectors.<name>`).

`DETECTORS` (names in report order), `Finding`, the `detect_*` functions at the default threshold
and the `Thresholds` of the shipped defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from mammoeval.qa.detectors import DETECTORS
from mammoeval.qa.detectors.background import detect_background
from mammoeval.qa.detectors.base import MID_HEIGHT, Finding
from mammoeval.qa.detectors.base import mask_at as _mask_at
from mammoeval.qa.detectors.blobs import detect_blobs
from mammoeval.qa.detectors.boundary import JAGGEDNESS_LIMIT, detect_boundary
from mammoeval.qa.detectors.broken import detect_broken
from mammoeval.qa.detectors.checkerboard import detect_checkerboard
from mammoeval.qa.detectors.outline import detect_outline
from mammoeval.qa.detectors.repeats import detect_repeats


@dataclass(frozen=True)
class Thresholds:
    """Shipped default flag thresholds, one per detector (normalised score units: all 1)."""

    broken: float = 1.0
    checkerboard: float = 1.0
    boundary: float = 1.0
    background: float = 1.0
    blobs: float = 1.0
    repeats: float = 1.0
    outline: float = 1.0


__all__ = ["DETECTORS", "JAGGEDNESS_LIMIT", "MID_HEIGHT", "Finding", "Thresholds", "_mask_at", "detect_background",
           "detect_blobs", "detect_boundary", "detect_broken", "detect_checkerboard", "detect_outline",
           "detect_repeats"]
