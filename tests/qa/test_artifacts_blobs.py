"""Round dark blobs behind a crisp edge (issue #5): the round-edge evidence of detect_blobs."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import compute_anatomy, reduce_to_height
from mammoeval.qa.artifacts import (
    CIRCLE_STEP_LIMIT,
    MID_HEIGHT,
    _hole_evidence,
    _round_edge_evidence,
    detect_blobs,
)


def _darkened(img: np.ndarray, center: tuple[int, int], radius: float, factor: float, blur: float = 0.0) -> np.ndarray:
    """Return img with a disk multiplied by `factor` (edge blurred by a Gaussian of `blur` px)."""
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    disk = ((yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2).astype(np.float32)
    if blur:
        disk = ndi.gaussian_filter(disk, blur)
    return (img * (1.0 - (1.0 - factor) * disk)).astype(np.float32)


def _round_edge(img: np.ndarray) -> float:
    an = compute_anatomy(img)
    mid, f = reduce_to_height(img, MID_HEIGHT)
    return _round_edge_evidence(mid, f, an, _hole_evidence(img, an)[1])


def test_half_darkened_disk_is_flagged_as_dark_hole(phantoms):
    for _, img, _ in phantoms[:4]:
        bad = _darkened(img, (160, 80), 0.03 * 320, 0.5)
        f = detect_blobs(bad, compute_anatomy(bad))
        assert f.flag and "dark" in f.reason
        # the log step of a 50% darkening is about log(0.5 g + 0.3 m) - log(g + 0.3 m) ~ 0.3-0.5
        assert 0.25 <= _round_edge(bad) <= 0.7


def test_clean_phantoms_have_no_round_edge(phantoms):
    for _, img, _ in phantoms:
        assert _round_edge(img) < 0.5 * CIRCLE_STEP_LIMIT


def test_round_edge_evidence_falls_with_edge_blur_and_contrast(phantoms):
    _, img, _ = phantoms[0]
    crisp = _round_edge(_darkened(img, (160, 80), 10, 0.5))
    soft = _round_edge(_darkened(img, (160, 80), 10, 0.5, blur=4.0))
    faint = _round_edge(_darkened(img, (160, 80), 10, 0.8))
    assert crisp > soft and crisp > faint


def test_spots_smaller_than_the_minimum_radius_do_not_count(make_breast):
    img, _ = make_breast(320, 256)
    assert _round_edge(_darkened(img, (160, 80), 3, 0.3)) == 0.0
    assert _round_edge(_darkened(img, (160, 80), 10, 0.3)) > CIRCLE_STEP_LIMIT
