"""The detector protocol and registry, and the outline-plausibility detector."""

from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa.detectors import CALIBRATED, DETECTORS, REGISTRY
from mammoeval.qa.detectors.base import Finding, make_finding
from mammoeval.qa.detectors.outline import (
    OUTLINE_FEATURES,
    compute_outline_features,
    fit_reference,
    outline_score,
)


def test_registry_is_keyed_by_name_and_every_detector_follows_the_protocol(phantoms):
    from mammoeval.qa.anatomy import compute_anatomy

    assert DETECTORS[0] == "broken" and set(DETECTORS) == set(REGISTRY)
    assert "broken" not in CALIBRATED and set(CALIBRATED) == set(DETECTORS) - {"broken"}
    _, img, _ = phantoms[0]
    anatomy = compute_anatomy(img)
    for name, det in REGISTRY.items():
        assert det.name == name and isinstance(det.calibrate, bool) and det.max_threshold > 0
        f = det.score(img, None if not det.needs_anatomy else anatomy)
        assert isinstance(f, Finding) and f.name == name and f.threshold == 1.0 and np.isfinite(f.score)
        assert f.heatmap is None or f.heatmap.shape == anatomy.mask.shape


def test_a_finding_is_rejudged_without_losing_its_detail():
    f = make_finding("blobs", 0.7, 1.0, "dark hole or halo")
    assert not f.flag and f.reason == "" and f.detail == "dark hole or halo"
    g = f.judged(0.6, calibrated=True)
    assert g.flag and g.reason == "dark hole or halo" and g.calibrated and g.score == f.score
    assert not g.judged(0.8, calibrated=True).flag


def _half_disc(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - h / 2) / (0.45 * h)) ** 2 + (xx / (0.6 * w)) ** 2 <= 1.0


def test_outline_features_are_about_scale_free():
    a = compute_outline_features(_half_disc(160, 128))
    b = compute_outline_features(_half_disc(320, 256))
    assert a is not None and b is not None and set(a) == set(OUTLINE_FEATURES)
    for k in ("depth_ratio", "solidity", "area_fraction", "nipple_height", "turning"):
        assert a[k] == pytest.approx(b[k], abs=0.05), k


def test_outline_outliers_against_real_like_outlines(phantoms):
    from mammoeval.qa.anatomy import compute_anatomy

    feats = [compute_outline_features(compute_anatomy(img).mask) for _, img, _ in phantoms]
    ref = fit_reference([f for f in feats if f])
    assert max(outline_score(f, ref) for f in feats) < 1.0
    h, w = 160, 128
    square = np.zeros((h, w), bool)
    square[20:140, :90] = True
    yy, xx = np.mgrid[:h, :w]
    wavy = _half_disc(h, w) & (xx < 0.6 * w * (0.8 + 0.2 * np.sin(yy / 6.0)))
    for odd in (square, wavy):
        assert outline_score(compute_outline_features(odd), ref) >= 1.0
    assert compute_outline_features(np.zeros((h, w), bool)) is None
    assert outline_score(None, ref) == 0.0
