"""Repeated-tile / copy-paste detector: clean images pass, repeats are found where they are."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.inject import inject_tiles
from mammoeval.qa.repeats import compute_isolated_peaks, detect_repeats

REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"


def _changed_box(before: np.ndarray, after: np.ndarray, factor: int) -> tuple[slice, slice]:
    """Return the bounding box (coarse-grid slices) of the pixels that differ."""
    ys, xs = np.nonzero(np.abs(after - before) > 1e-6)
    return slice(ys.min() // factor, ys.max() // factor + 1), slice(xs.min() // factor, xs.max() // factor + 1)


def test_clean_phantoms_are_not_flagged(phantoms):
    for _, img, _ in phantoms:
        f = detect_repeats(img, compute_anatomy(img))
        assert not f.flag and f.score < 0.8, f.score
        assert f.heatmap is not None and f.heatmap.shape == compute_anatomy(img).mask.shape


def test_tiles_at_strength_1_are_flagged_and_the_heatmap_peaks_on_them(phantoms):
    rng = np.random.default_rng(0)
    for _, img, mask in phantoms[:4]:
        bad = inject_tiles(img, mask, 1.0, rng)
        an = compute_anatomy(bad)
        f = detect_repeats(bad, an)
        assert f.flag and f.reason == "repeated texture", f.score
        box = _changed_box(img, bad, an.factor)
        assert f.heatmap[box].max() == pytest.approx(float(f.heatmap.max()))
        assert f.heatmap.max() >= 1.0


def test_score_rises_from_clean_to_tiles(phantoms):
    _, img, mask = phantoms[1]
    an = compute_anatomy(img)
    clean = detect_repeats(img, an).score
    tiled = detect_repeats(inject_tiles(img, mask, 0.5, np.random.default_rng(2)), an).score
    assert tiled > 2 * clean


def test_copy_pasted_patch_near_its_source_is_flagged(phantoms):
    # within half a window (32 px at 320 rows) of its source; distant copies are a documented limit
    _, img, _ = phantoms[0]
    an = compute_anatomy(img)
    assert not detect_repeats(img, an).flag
    bad = img.copy()
    bad[150:190, 120:160] = img[150:190, 95:135]  # a 40 x 40 patch pasted 25 px to the right
    f = detect_repeats(bad, an)
    assert f.flag, f.score
    assert f.heatmap[_changed_box(img, bad, an.factor)].max() == pytest.approx(float(f.heatmap.max()))


@pytest.mark.parametrize("kind", ["flat", "white", "smooth"])
def test_flat_and_noise_breasts_are_not_flagged(make_breast, kind):
    img, mask = make_breast(320, 256)
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(img.shape)
    if kind == "white":
        img = np.where(mask, img + 0.05 * noise, 0.0)
    elif kind == "smooth":
        img = np.where(mask, img + 0.05 * ndi.gaussian_filter(noise, 1.0) / 0.28, 0.0)
    img = np.clip(img, 0, 1).astype(np.float32)
    f = detect_repeats(img, compute_anatomy(img))
    assert not f.flag, f.score


def test_deterministic(phantoms):
    _, img, mask = phantoms[2]
    bad = inject_tiles(img, mask, 0.5, np.random.default_rng(4))
    an = compute_anatomy(bad)
    a, b = detect_repeats(bad, an), detect_repeats(bad.copy(), an)
    assert a.score == b.score
    np.testing.assert_array_equal(a.heatmap, b.heatmap)


def test_isolated_peak_of_a_periodic_window_is_near_one_and_of_noise_near_zero():
    rng = np.random.default_rng(0)
    tile = rng.standard_normal((16, 16))
    periodic = np.tile(tile, (4, 4))[None].astype(np.float32)
    noise = rng.standard_normal((1, 64, 64)).astype(np.float32)
    full = np.ones((1, 64, 64), bool)
    assert compute_isolated_peaks(periodic, full)[0] > 0.8
    assert compute_isolated_peaks(noise, full)[0] < 0.25


def test_straight_lines_are_not_repeats():
    # a 1-D pattern (constant along rows) correlates with itself at every vertical lag: a ridge, not a peak
    rng = np.random.default_rng(1)
    lines = np.repeat(rng.standard_normal((1, 1, 64)), 64, axis=1).astype(np.float32)
    assert compute_isolated_peaks(lines, np.ones((1, 64, 64), bool))[0] < 0.25


def test_partial_window_mask_keeps_the_coefficient_scale():
    rng = np.random.default_rng(2)
    tile = rng.standard_normal((16, 16))
    periodic = np.tile(tile, (4, 4))[None].astype(np.float32)
    half = np.zeros((1, 64, 64), bool)
    half[:, :, :40] = True  # the region covers 5/8 of the window; outside it is garbage
    garbage = np.where(half, periodic, 50.0 * rng.standard_normal((1, 64, 64))).astype(np.float32)
    assert compute_isolated_peaks(garbage, half)[0] > 0.8


@pytest.mark.skipif(not (REAL_DEV / "labels.csv").exists(), reason="real-dev data not present")
def test_real_images_clean_pass_and_tiled_are_flagged():
    from mammoeval.qa.artifacts import _mask_at
    from tests.qa.conftest import canonical_real

    with open(REAL_DEV / "labels.csv", newline="") as f:
        files = sorted(r["file"] for r in csv.DictReader(f))[1::7]  # a few odd (held-out) files of each source
    for name in files:
        img, an = canonical_real(REAL_DEV / name, 640)
        assert not detect_repeats(img, an).flag, name
        mask = _mask_at(an.mask, img.shape, 1.0 / an.factor)
        assert detect_repeats(inject_tiles(img, mask, 1.0, np.random.default_rng(0)), an).flag, name


def test_matched_area_counts_the_copied_blocks_only():
    from mammoeval.qa.repeats import compute_matched_area

    rng = np.random.default_rng(3)
    win = (0.01 * rng.standard_normal((64, 64))).astype(np.float32)
    win[10:34, 30:54] = win[10:34, 4:28]  # a 24 x 24 copy, 26 px to the right of its source
    full = np.ones((64, 64), bool)
    # 8x8 blocks fully inside the copy: (24 - 8 + 1)^2 = 289 positions, give or take the box edges
    assert 250 <= compute_matched_area(win, full, (0, 26)) <= 330
    assert compute_matched_area(win, full, (0, 13)) < 10
    flat = np.zeros((64, 64), np.float32)
    assert compute_matched_area(flat, full, (0, 26)) == 0
