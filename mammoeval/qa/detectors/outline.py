"""Breast-outline plausibility: curvature features of the skin line and an outlier score against real outlines.

In the style of FDA's ShapeCheck (knowledge-based shape features of the breast boundary, scored as
outliers against real images): the skin line is the breast mask's outline away from the image
edges (chest wall left), resampled at OUTLINE_POINTS points by arc length. Its features
(`OUTLINE_FEATURES`) describe the global shape (depth / height, solidity, area share, nipple
height) and the curvature profile (total and concave turning, the largest bend, sign changes,
fine-scale roughness). The outlier score is the root mean square of the features' robust z-scores
((value - median) / (1.4826 MAD)) against a reference: the calibration's real images of the view
(`mammoeval.qa.calibration`), or the shipped reference (`defaults.OUTLINE_REFERENCE`) without one.
Score = that RMS / OUTLINE_Z_LIMIT (>= 1 flags at the default threshold).

Unlike the boundary detector (extra components, holes, notches: local breaks of an outline), this
one sees outlines that are each smooth yet unlike a breast: a square or triangular breast, a
skin line that wobbles in large waves, a nipple at the image corner.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import find_contours
from skimage.morphology import convex_hull_image

from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.defaults import OUTLINE_REFERENCE

OUTLINE_POINTS = 128
"""Samples of the skin line (by arc length) the curvature features are measured on."""
OUTLINE_Z_LIMIT = 4.0
"""RMS robust z-score of the outline features that reaches the default threshold (score 1)."""
OUTLINE_FEATURES = ("depth_ratio", "solidity", "area_fraction", "nipple_height", "turning",
                    "concave_share", "max_bend", "sign_changes", "roughness")
"""Names of the outline features, in the order they are computed."""

MIN_SCALE = {"sign_changes": 1.0}
"""Smallest robust scale of a feature (others: 1e-3): a count that most real outlines share (MAD 0)
must not make one extra sign change an outlier."""

Reference = Mapping[str, tuple[float, float]]
"""Feature name -> (median, robust scale) of real outlines."""


def compute_outline_features(mask: np.ndarray) -> dict[str, float] | None:
    """Return the outline features of a breast mask (chest wall left), or None when it has no skin line.

    Args:
        mask: bool [h, w] breast mask in canonical orientation.
    """
    h, w = mask.shape
    if mask.sum() < 50 or mask.all():
        return None
    contours = find_contours(np.pad(mask.astype(np.float32), 1), 0.5)
    if not contours:
        return None
    c = max(contours, key=len) - 1.0
    inside = (c[:, 0] > 1) & (c[:, 0] < h - 2) & (c[:, 1] < w - 2) & (c[:, 1] > 1)
    run = _longest_run(inside)
    if run is None or run[1] - run[0] < 12:
        return None
    pts = _resample(c[run[0]:run[1]], OUTLINE_POINTS)
    coarse = ndi.gaussian_filter1d(pts, 4.0, axis=0, mode="nearest")
    fine = ndi.gaussian_filter1d(pts, 1.0, axis=0, mode="nearest")
    k_coarse, k_fine = _turning(coarse), _turning(fine)
    if k_coarse.sum() < 0:
        k_coarse, k_fine = -k_coarse, -k_fine
    height = float(np.ptp(pts[:, 0])) + 1.0
    hull = convex_hull_image(mask)
    total = float(np.abs(k_coarse).sum()) + 1e-9
    signs = np.sign(k_coarse[np.abs(k_coarse) > 0.02])
    nipple = pts[int(np.argmax(pts[:, 1]))]
    return {
        "depth_ratio": float(pts[:, 1].max() - mask.any(axis=0).argmax()) / height,
        "solidity": float(mask.sum() / max(1, hull.sum())),
        "area_fraction": float(mask.mean()),
        "nipple_height": float((nipple[0] - pts[:, 0].min()) / height),
        "turning": float(k_coarse.sum() / np.pi),
        "concave_share": float(-k_coarse[k_coarse < 0].sum()) / total,
        "max_bend": float(np.abs(ndi.uniform_filter1d(k_coarse, 9)).max() * 9 / np.pi),
        "sign_changes": float(np.count_nonzero(np.diff(signs) != 0)) if signs.size > 1 else 0.0,
        "roughness": float(np.abs(k_fine - k_coarse).mean() * OUTLINE_POINTS / np.pi),
    }


def _longest_run(keep: np.ndarray) -> tuple[int, int] | None:
    """Return (start, stop) of the longest run of True in a 1-D bool array, or None when it has none."""
    labels, n = ndi.label(keep)
    if n == 0:
        return None
    sizes = np.bincount(labels)[1:]
    idx = np.nonzero(labels == 1 + int(np.argmax(sizes)))[0]
    return int(idx[0]), int(idx[-1]) + 1


def _resample(c: np.ndarray, n: int) -> np.ndarray:
    """Return n points spaced evenly by arc length along the polyline c [k, 2]."""
    arc = np.r_[0.0, np.cumsum(np.hypot(*np.diff(c, axis=0).T))]
    s = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(s, arc, c[:, 0]), np.interp(s, arc, c[:, 1])], axis=1)


def _turning(pts: np.ndarray) -> np.ndarray:
    """Return the turning angle (radians) at each interior vertex of a polyline [n, 2]."""
    d = np.diff(pts, axis=0)
    return np.diff(np.unwrap(np.arctan2(d[:, 0], d[:, 1])))


def outline_score(features: Mapping[str, float] | None, reference: Reference) -> float:
    """Return the outline score: RMS robust z of the features against `reference`, / OUTLINE_Z_LIMIT (0 for None)."""
    if not features:
        return 0.0
    z = [(features[k] - med) / max(scale, 1e-6) for k, (med, scale) in reference.items() if k in features]
    return float(np.sqrt(np.mean(np.square(z)))) / OUTLINE_Z_LIMIT if z else 0.0


def fit_reference(rows: list[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Return the reference (median, robust scale) per feature of real outlines.

    The scale is 1.4826 x MAD, floored at 10% of the absolute median and at MIN_SCALE, so a feature
    that barely varies over the real set cannot blow up the score.
    """
    out: dict[str, tuple[float, float]] = {}
    for k in OUTLINE_FEATURES:
        v = np.array([r[k] for r in rows if k in r], np.float64)
        if v.size == 0:
            continue
        med = float(np.median(v))
        mad = 1.4826 * float(np.median(np.abs(v - med)))
        out[k] = (med, max(mad, 0.1 * abs(med), MIN_SCALE.get(k, 1e-3)))
    return out


def detect_outline(anatomy: Anatomy, *, reference: Reference | None = None, threshold: float = 1.0) -> Finding:
    """Return the outline-plausibility finding of one image (score: see the module docstring).

    Args:
        anatomy: the image's anatomy (breast mask, chest wall left).
        reference: real outlines' feature statistics; None = the shipped reference.
        threshold: flag threshold on the score.
    """
    feats = compute_outline_features(anatomy.mask)
    score = outline_score(feats, OUTLINE_REFERENCE if reference is None else reference)
    return _finding("outline", score, threshold, "implausible breast outline")


def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_outline(required(anatomy))


DETECTOR = FunctionDetector("outline", _score)
