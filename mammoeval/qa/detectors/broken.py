"""Broken-input detector: NaN/inf pixels, a constant image or a nearly empty one (a rule, not calibrated)."""

from __future__ import annotations

import numpy as np

from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import Finding, FunctionDetector
from mammoeval.qa.detectors.base import make_finding as _finding


def detect_broken(image: np.ndarray, *, threshold: float = 1.0) -> Finding:
    """Return the broken-image finding: score 1 for NaN/inf pixels, a constant or a nearly empty image.

    Args:
        image: float [H, W], any values.
        threshold: flag threshold on the score (default 1).
    """
    finite = np.isfinite(image)
    if not finite.all():
        return _finding("broken", 1.0 + float(1.0 - finite.mean()), threshold, "NaN/inf pixels")
    lo, hi = float(image.min()), float(image.max())
    if hi - lo < 1e-3:
        return _finding("broken", 1.0, threshold, "constant image")
    coarse, _ = reduce_to_height(image, 128)
    fg = float(np.mean(coarse > lo + 0.1 * (hi - lo)))
    if fg < 0.01:
        return _finding("broken", 1.0 + (0.01 - fg) * 10, threshold, "nearly empty image")
    return _finding("broken", 0.0, threshold, "")


def _score(image: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_broken(image)


DETECTOR = FunctionDetector("broken", _score, calibrate=False, needs_anatomy=False)
"""Runs on the raw input before the anatomy; its rule (score >= 1) is never recalibrated."""
