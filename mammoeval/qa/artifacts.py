"""The artifact detectors' public names in one import (each detector lives in `mammoeval.qa.detectors.<name>`).

`DETECTORS` (names in report order), `Finding` and the `detect_*` functions at the shipped
threshold; thresholds come from `mammoeval.qa.calibration` (shipped defaults: `shipped_defaults()`).
"""

from __future__ import annotations

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

__all__ = ["DETECTORS", "JAGGEDNESS_LIMIT", "MID_HEIGHT", "Finding", "_mask_at", "detect_background",
           "detect_blobs", "detect_boundary", "detect_broken", "detect_checkerboard", "detect_outline",
           "detect_repeats"]
