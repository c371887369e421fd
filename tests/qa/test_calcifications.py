from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.calcifications import (
    Calc,
    assign_clusters,
    detect_calcifications,
    match_detections,
    wasserstein_1,
)

SPOTS = [(60, 100, 2.0), (90, 160, 3.0), (120, 220, 4.0), (140, 120, 2.5), (70, 200, 3.5)]  # x, y, diameter


def _with_spots(img: np.ndarray, spots, contrast: float) -> np.ndarray:
    out = img.copy()
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    for x, y, d in spots:
        out += contrast * np.clip(d / 2 + 0.5 - np.hypot(xx - x, yy - y), 0, 1)
    return np.clip(out, 0, 1).astype(np.float32)


def test_known_spots_are_found_with_size_and_contrast(make_breast):
    img, _ = make_breast(320, 256)
    spotted = _with_spots(img, SPOTS, 0.3)
    found = detect_calcifications(spotted, compute_anatomy(spotted))
    tp, fp, fn = match_detections(found, [(x, y) for x, y, _ in SPOTS])
    assert (tp, fp, fn) == (5, 0, 0)
    for c in found:
        d = min(SPOTS, key=lambda s: np.hypot(s[0] - c.x, s[1] - c.y))[2]
        assert abs(c.diameter_px - d) <= 1.5
        assert 0.2 <= c.contrast <= 0.31
    assert detect_calcifications(img, compute_anatomy(img)) == []


def test_markers_and_lines_are_not_calcifications(make_breast):
    img, _ = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    out = img.copy()
    out[(yy - 160) ** 2 + (xx - 80) ** 2 <= 7**2] += 0.4  # round marker, 14 px across
    out[200:202, 40:140] += 0.3  # a straight 2-px line (vessel, text stroke)
    out = np.clip(out, 0, 1).astype(np.float32)
    assert detect_calcifications(out, compute_anatomy(out)) == []


def test_phantom_truth_recall(phantoms):
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    tp = fn = fp = 0
    for seed in range(6):
        p = render_phantom(50 + seed, size=(320, 256), view="CC", findings=FindingsConfig(p_calcifications=1.0))
        found = detect_calcifications(p.image, compute_anatomy(p.image))
        visible = [(c.x, c.y) for c in p.truth.calcifications if 2 <= c.diameter_px <= 4 and c.contrast >= 0.1]
        a, _, c = match_detections(found, visible)
        _, b, _ = match_detections(found, [(c.x, c.y) for c in p.truth.calcifications])
        tp, fn, fp = tp + a, fn + c, fp + b
    assert tp / (tp + fn) >= 0.85
    assert tp / (tp + fp) >= 0.8


def test_clusters_single_linkage():
    pts = [Calc(0, 0, 2, 0.2), Calc(5, 0, 2, 0.2), Calc(10, 0, 2, 0.2), Calc(100, 100, 2, 0.2), Calc(104, 100, 2, 0.2)]
    out = assign_clusters(pts, distance_px=6, min_size=3)
    assert [c.cluster for c in out] == [0, 0, 0, -1, -1]
    assert [c.cluster for c in assign_clusters(pts, distance_px=200)] == [0] * 5
    assert assign_clusters([], distance_px=5) == []


def test_match_and_wasserstein_hand_cases():
    found = [Calc(0, 0, 2, 0.1), Calc(10, 10, 2, 0.1)]
    assert match_detections(found, [(0.5, 0.5), (50, 50)]) == (1, 1, 1)
    assert wasserstein_1([0, 1], [1, 2]) == pytest.approx(1.0)
    assert wasserstein_1([], [1]) is None


def test_ring_and_disc_markers_on_the_skin_line_are_not_calcifications(make_breast):
    img, mask = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    out = img.copy()
    edge_x = int(np.nonzero(mask[160])[0].max())  # skin line on the middle row
    r = np.hypot(yy - 160, xx - edge_x)
    out[(r >= 4) & (r <= 6)] = 0.95  # ring marker straddling the skin line
    r2 = np.hypot(yy - 100, xx - int(np.nonzero(mask[100])[0].max()))
    out[r2 <= 5] = 0.95  # disc marker straddling the skin line
    out = out.astype(np.float32)
    assert detect_calcifications(out, compute_anatomy(out)) == []


def test_touching_cluster_members_are_found_separately(make_breast):
    img, _ = make_breast(320, 256)
    spots = [(90, 150, 3.0), (95, 151, 3.0), (92, 156, 2.5)]  # 5 px apart: they touch at half maximum
    out = _with_spots(img, spots, 0.3)
    found = detect_calcifications(out, compute_anatomy(out))
    tp, fp, fn = match_detections(found, [(x, y) for x, y, _ in spots])
    assert (tp, fp, fn) == (3, 0, 0)
    assert {c.cluster for c in found} == {0}


def test_fast_opening_equals_scipy_grey_opening():
    from scipy import ndimage as ndi

    from mammoeval.qa.calcifications import _binomial_blur, _opening

    a = np.random.default_rng(1).random((37, 53)).astype(np.float32)
    for size in (3, 7, 9):
        np.testing.assert_array_equal(_opening(a, size), ndi.grey_opening(a, size=(size, size), mode="nearest"))
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
    np.testing.assert_allclose(_binomial_blur(a), ndi.convolve(a, kernel, mode="nearest"), atol=1e-6)


def test_no_calcifications_in_the_pectoral_muscle():
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    p = render_phantom(1005, size=(320, 256), view="MLO", findings=FindingsConfig.none())
    a = compute_anatomy(p.image)
    assert a.pectoral_present
    ys, xs = np.nonzero(np.kron(a.pectoral_mask, np.ones((a.factor, a.factor), bool)))
    k = len(ys) // 2
    spotted = _with_spots(p.image, [(xs[k], ys[k], 3.0)], 0.3)
    assert detect_calcifications(spotted, compute_anatomy(spotted)) == []


def _textured_top(img: np.ndarray, mask: np.ndarray, rows: int, amplitude: float) -> np.ndarray:
    """Return img with fine bright texture knots (seeded) in its first `rows` rows of breast."""
    from scipy import ndimage as ndi

    tex = ndi.gaussian_filter(np.random.default_rng(3).standard_normal(img.shape), 1.0)
    out = img + amplitude * np.where(mask, tex / tex.std(), 0.0) * (np.arange(img.shape[0]) < rows)[:, None]
    return np.clip(out, 0, 1).astype(np.float32)


def test_spots_in_fat_beside_dense_texture_are_found(make_breast):
    img, mask = make_breast(320, 256)
    textured = _textured_top(img, mask, 110, 0.06)
    spots = [(70, 220, 3.0), (110, 250, 2.5)]  # in the smooth lower part
    out = _with_spots(textured, spots, 0.2)
    a = compute_anatomy(out)
    truth = [(x, y) for x, y, _ in spots]
    assert match_detections(detect_calcifications(out, a), truth)[0] == 2


def _gaussian_spots(img: np.ndarray, spots, contrast: float) -> np.ndarray:
    """Return img + Gaussian spots (x, y, FWHM px) of the given contrast, clipped to [0, 1]."""
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    out = img.astype(np.float64).copy()
    for x, y, fwhm in spots:
        out += contrast * np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / (fwhm / 2.355) ** 2)
    return np.clip(out, 0, 1).astype(np.float32)


def _fibres(img: np.ndarray, mask: np.ndarray, amplitude: float, n: int = 60, seed: int = 5) -> np.ndarray:
    """Return img + a mesh of n thin bright fibres (seeded 1.5-3 px wide ridges in random directions) in the breast."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    tex = np.zeros(img.shape)
    for _ in range(n):
        y0, x0, ang, width = rng.uniform(0, img.shape[0]), rng.uniform(0, img.shape[1]), rng.uniform(0, np.pi), \
            rng.uniform(1.5, 3.0)
        d = (xx - x0) * np.sin(ang) - (yy - y0) * np.cos(ang)
        tex = np.maximum(tex, np.exp(-0.5 * (d / (width / 2.355)) ** 2))
    return np.clip(img + amplitude * np.where(mask, tex, 0.0), 0, 1).astype(np.float32)


def test_gaussian_spots_in_dense_fibre_texture_are_found(make_breast):
    img, mask = make_breast(320, 256)
    textured = _fibres(img, mask, 0.2, n=40)
    spots = [(60, 110, 3.0), (100, 170, 3.0), (70, 230, 2.5), (130, 140, 3.5)]
    out = _gaussian_spots(textured, spots, 0.2)
    a = compute_anatomy(out)
    truth = [(x, y) for x, y, _ in spots]
    assert match_detections(detect_calcifications(out, a), truth) == (4, 0, 0)
    # and the fibres alone (ridges, their ends at the skin, crossings of two) give no detection
    assert detect_calcifications(textured, compute_anatomy(textured)) == []


def test_thin_lines_and_their_ends_are_not_calcifications(make_breast):
    img, _ = make_breast(320, 256)
    out = img.copy()
    out[150, 40:90] += 0.3  # a 1-px-wide line segment: two ends and a body
    yy, xx = np.mgrid[:320, :256]
    d = np.abs((xx - 60) * np.sin(0.6) - (yy - 220) * np.cos(0.6))
    out += 0.3 * np.clip(1 - d, 0, 1) * (np.hypot(xx - 60, yy - 220) <= 25)  # a slanted 1-px segment, antialiased
    out = np.clip(out, 0, 1).astype(np.float32)
    assert detect_calcifications(out, compute_anatomy(out)) == []


def test_spot_on_a_vessel_is_found_once(make_breast):
    img, _ = make_breast(320, 256)
    out = img.copy()
    out[199:202, 30:150] += 0.15  # a 3-px vessel
    out = _gaussian_spots(out, [(90, 200, 3.0)], 0.25)
    found = detect_calcifications(out, compute_anatomy(out))
    assert match_detections(found, [(90.0, 200.0)]) == (1, 0, 0)


def test_spot_strength_is_the_smaller_curvature():
    from mammoeval.qa.calcifications import _spot_strength

    yy, xx = np.mgrid[-10:11, -10:11].astype(np.float32)
    # f = 1 - a x^2 - b y^2: negated Hessian eigenvalues 2a and 2b; the smaller one is the strength
    bowl = 1 - 0.01 * xx**2 - 0.03 * yy**2
    assert _spot_strength(bowl)[10, 10] == pytest.approx(0.02, abs=1e-5)
    # rotated by 45 degrees: same eigenvalues
    u, v = (xx + yy) / np.sqrt(2), (xx - yy) / np.sqrt(2)
    assert _spot_strength(1 - 0.01 * u**2 - 0.03 * v**2)[10, 10] == pytest.approx(0.02, abs=1e-5)
    # a ridge (curved across only) and a valley have no spot strength
    assert _spot_strength(1 - 0.03 * xx**2)[10, 10] == pytest.approx(0.0, abs=1e-6)
    assert _spot_strength(0.03 * xx**2 + 0.03 * yy**2)[10, 10] < 0
