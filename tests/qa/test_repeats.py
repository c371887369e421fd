"""Repeated-tile / copy-paste detector: clean images pass, repeats are found where they are, near or far."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.inject import inject_tiles
from mammoeval.qa.repeats import compute_candidates, compute_matched_area, detect_repeats

REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"


def _changed_box(before: np.ndarray, after: np.ndarray, factor: int) -> tuple[slice, slice]:
    """Return the bounding box (coarse-grid slices) of the pixels that differ."""
    ys, xs = np.nonzero(np.abs(after - before) > 1e-6)
    return slice(ys.min() // factor, ys.max() // factor + 1), slice(xs.min() // factor, xs.max() // factor + 1)


def _coarse_box(rows: slice, cols: slice, factor: int) -> tuple[slice, slice]:
    """Return an image-pixel box on the coarse grid."""
    return slice(rows.start // factor, -(-rows.stop // factor)), slice(cols.start // factor, -(-cols.stop // factor))


def test_clean_phantoms_are_not_flagged(phantoms):
    for _, img, _ in phantoms:
        an = compute_anatomy(img)
        f = detect_repeats(img, an)
        assert not f.flag and f.score < 0.3, f.score
        assert f.heatmap is not None and f.heatmap.shape == an.mask.shape


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
    assert tiled >= 1.0 > clean


def test_copy_pasted_patch_near_its_source_is_flagged(phantoms):
    _, img, _ = phantoms[0]
    an = compute_anatomy(img)
    bad = img.copy()
    bad[150:190, 120:160] = img[150:190, 95:135]  # a 40 x 40 patch pasted 25 px to the right
    f = detect_repeats(bad, an)
    assert f.flag, f.score
    assert f.heatmap[_changed_box(img, bad, an.factor)].max() == pytest.approx(float(f.heatmap.max()))


@pytest.mark.parametrize("index", [0, 3])
def test_distant_copy_paste_is_flagged_and_both_ends_are_marked(phantoms, index):
    # a patch pasted far from its source (115 px down, 10 px right at 320 rows)
    _, img, _ = phantoms[index]
    an = compute_anatomy(img)
    assert not detect_repeats(img, an).flag
    src, dst = (slice(80, 112), slice(100, 132)), (slice(195, 227), slice(110, 142))
    bad = img.copy()
    bad[dst] = img[src]
    f = detect_repeats(bad, an)
    assert f.flag, f.score
    peak = float(f.heatmap.max())
    assert f.heatmap[_coarse_box(*src, an.factor)].max() == pytest.approx(peak)
    assert f.heatmap[_coarse_box(*dst, an.factor)].max() == pytest.approx(peak)
    outside = np.ones(f.heatmap.shape, bool)
    for box in (src, dst):
        grown = _coarse_box(slice(box[0].start - 40, box[0].stop + 40), slice(max(0, box[1].start - 40), box[1].stop + 40), an.factor)
        outside[grown] = False
    assert f.heatmap[outside].max() == 0.0


def test_faint_copy_blended_into_its_place_is_still_flagged(phantoms):
    # opacity 0.7: the copy's texture is mixed with 30% of what it covers
    _, img, _ = phantoms[2]
    an = compute_anatomy(img)
    bad = img.copy()
    dst = (slice(190, 226), slice(110, 146))
    bad[dst] = 0.7 * img[90:126, 100:136] + 0.3 * img[dst]
    assert detect_repeats(bad, an).flag


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


def test_candidates_put_a_copy_displacement_first_in_half_plane_convention():
    rng = np.random.default_rng(0)
    region = np.ones((200, 160), bool)
    noise = rng.standard_normal((200, 160)).astype(np.float32)
    noise[120:160, 100:140] = noise[30:70, 20:60]  # the copy lies (90, 80) from its source
    assert compute_candidates(noise, region)[0] == (90, 80)
    noise = rng.standard_normal((200, 160)).astype(np.float32)
    noise[30:70, 100:140] = noise[120:160, 20:60]  # source below-left of the copy: reported as (90, -80)
    assert compute_candidates(noise, region)[0] == (90, -80)


def test_candidates_of_anisotropic_texture_sit_on_the_exact_displacement():
    # texture correlated along rows (streaks) smears the correlation peak; flattening must not move it
    rng = np.random.default_rng(1)
    tex = ndi.gaussian_filter(rng.standard_normal((240, 180)), (0.3, 1.0)).astype(np.float32)
    tex[150:190, 110:150] = tex[20:60, 15:55]
    tex /= tex.std()
    lag = compute_candidates(tex, np.ones(tex.shape, bool))[0]
    assert max(abs(lag[0] - 130), abs(lag[1] - 95)) <= 1, lag


def test_flattening_is_a_zero_phase_filter():
    from mammoeval.qa.repeats import _flattening

    rng = np.random.default_rng(2)
    tex = ndi.gaussian_filter(rng.standard_normal((90, 70)), (0.5, 1.5)).astype(np.float32)
    shape = (150, 120)
    spec = scipy.fft.rfft2(tex, s=shape)
    kernel = scipy.fft.irfft2(1.0 / _flattening(spec.real ** 2 + spec.imag ** 2, shape), s=shape)
    mirrored = np.roll(kernel[::-1, ::-1], (1, 1), axis=(0, 1))  # k(-y, -x)
    np.testing.assert_allclose(kernel, mirrored, atol=1e-6 * float(np.abs(kernel).max()))


def test_straight_structure_matches_everywhere_along_itself_but_is_not_a_copy():
    from mammoeval.qa.repeats import _verified_area

    rng = np.random.default_rng(1)
    lines = np.repeat(rng.standard_normal((1, 96)), 96, axis=0).astype(np.float32)  # constant down each column
    region = np.ones((96, 96), bool)
    assert compute_matched_area(lines, region, (10, 0)) > 500  # a plain block match is fooled
    assert _verified_area(lines, region, (0, 0, 64, 64), (10, 0), 8) == 0


def test_matched_area_counts_the_copied_blocks_only():
    rng = np.random.default_rng(3)
    win = (0.01 * rng.standard_normal((64, 64))).astype(np.float32)
    win[10:34, 30:54] = win[10:34, 4:28]  # a 24 x 24 copy, 26 px to the right of its source
    full = np.ones((64, 64), bool)
    # 8x8 blocks fully inside the copy: (24 - 8 + 1)^2 = 289 positions, plus the edge blocks mostly inside it
    assert 250 <= compute_matched_area(win, full, (0, 26)) <= 400
    assert compute_matched_area(win, full, (0, 13)) < 10
    flat = np.zeros((64, 64), np.float32)
    assert compute_matched_area(flat, full, (0, 26)) == 0


@pytest.mark.skipif(not (REAL_DEV / "labels.csv").exists(), reason="real-dev data not present")
def test_real_images_clean_pass_and_tiled_or_copied_are_flagged():
    from mammoeval.qa.artifacts import _mask_at
    from tests.qa.conftest import canonical_real

    with open(REAL_DEV / "labels.csv", newline="") as f:
        files = sorted(r["file"] for r in csv.DictReader(f))[1::7]  # a few odd (held-out) files of each source
    for name in files:
        img, an = canonical_real(REAL_DEV / name, 640)
        assert not detect_repeats(img, an).flag, name
        mask = _mask_at(an.mask, img.shape, 1.0 / an.factor)
        assert detect_repeats(inject_tiles(img, mask, 1.0, np.random.default_rng(0)), an).flag, name
        dist = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        t = int(0.08 * img.shape[0])
        deep = np.argwhere(dist >= 2.5 * t)  # far from the skin line and the chest wall
        deep = deep[deep[:, 1] > 0.15 * img.shape[1]]
        (sy, sx), (cy, cx) = deep[0], deep[-1]  # top-most and bottom-most deep points: far apart
        bad = img.copy()
        bad[cy - t // 2:cy - t // 2 + t, cx - t // 2:cx - t // 2 + t] = img[sy - t // 2:sy - t // 2 + t, sx - t // 2:sx - t // 2 + t]
        assert detect_repeats(bad, compute_anatomy(bad)).flag, name
