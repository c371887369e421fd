"""The artifact detectors, one module each, behind one protocol (`base.Detector`); results are keyed by name.

`REGISTRY` maps each name to its detector; `DETECTORS` is the names in report order. A new
detector is a module with a `DETECTOR` object added here.
"""

from __future__ import annotations

from typing import Final

from mammoeval.qa.detectors import background, blobs, boundary, broken, checkerboard, outline, repeats
from mammoeval.qa.detectors.base import Detector, Finding

REGISTRY: Final[dict[str, Detector]] = {
    d.name: d for d in (broken.DETECTOR, checkerboard.DETECTOR, boundary.DETECTOR, background.DETECTOR,
                        blobs.DETECTOR, repeats.DETECTOR, outline.DETECTOR)
}
"""Detector name -> detector."""
DETECTORS: Final[tuple[str, ...]] = tuple(REGISTRY)
"""Detector names, in report order."""
CALIBRATED: Final[tuple[str, ...]] = tuple(n for n, d in REGISTRY.items() if d.calibrate)
"""Names of the detectors whose threshold a calibration fits."""

__all__ = ["CALIBRATED", "DETECTORS", "REGISTRY", "Detector", "Finding"]
