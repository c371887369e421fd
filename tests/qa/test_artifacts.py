from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa import check_image
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.artifacts import detect_background, detect_blobs, detect_broken
from mammoeval.qa.inject import inject


def test_clean_phantoms_are_not_flagged(phantoms):
    for view, img, _ in phantoms:
        row, _ = check_image(img, view=view)
        assert not row.any_artifact, row.reasons
        assert 0.0 < row.quality_score <= 1.0


@pytest.mark.parametrize("kind", ["checkerboard", "background", "broken"])
def test_blatant_injection_is_flagged(phantoms, kind):
    rng = np.random.default_rng(0)
    for view, img, mask in phantoms[:4]:
        bad = inject(kind, img, mask, strength=1.0, rng=rng)
        row, _ = check_image(bad, view=view)
        assert row.flag(kind), f"{kind} missed"


def test_checkerboard_score_grows_with_strength(phantoms):
    view, img, mask = phantoms[0]
    scores = [check_image(inject("checkerboard", img, mask, strength=s, rng=np.random.default_rng(3)))[0]
              .scores["checkerboard"] for s in (0.1, 0.3, 1.0)]
    assert scores[0] < scores[1] < scores[2]


def test_boundary_hole_and_island_are_flagged(phantoms):
    _, img, mask = phantoms[0]
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    holed = img.copy()
    holed[(yy - 160) ** 2 + (xx - 50) ** 2 <= 12**2] = 0.0
    assert check_image(holed)[0].flag("boundary")
    right = int(np.nonzero(mask[160])[0].max())
    island = img.copy()
    island[(yy - 160) ** 2 + (xx - (right + 20)) ** 2 <= 10**2] = float(np.median(img[mask]))
    row = check_image(island)[0]
    assert row.flag("boundary") and "component" in row.reasons


def test_saturated_blob_and_black_hole_are_flagged(make_breast):
    img, _ = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    disk = (yy - 160) ** 2 + (xx - 100) ** 2 <= 10**2
    sat = img.copy()
    sat[disk] = 1.0
    f = detect_blobs(sat, compute_anatomy(sat))
    assert f.flag and "saturated" in f.reason
    hole = img.copy()
    hole[disk] *= 0.05
    f = detect_blobs(hole, compute_anatomy(hole))
    assert f.flag and "dark" in f.reason
    assert not detect_blobs(img, compute_anatomy(img)).flag


@pytest.mark.parametrize("bad", [np.full((80, 64), np.nan, np.float32), np.full((80, 64), 0.3, np.float32),
                                 np.zeros((80, 64), np.float32)])
def test_broken_images_are_flagged_without_exceptions(bad):
    row, details = check_image(bad, view="CC", image_id="x")
    assert row.flag("broken") and row.quality_score == 0.0
    assert row.reasons.startswith("broken")
    assert details.calcs == ()


def test_nearly_empty_and_partial_nan():
    img = np.zeros((160, 128), np.float32)
    img[:2, :2] = 1.0
    assert detect_broken(img).flag
    img = np.full((160, 128), 0.5, np.float32)
    img[5, 5] = np.nan
    assert detect_broken(img).reason == "NaN/inf pixels"


def test_inject_rejects_bad_arguments(phantoms):
    _, img, mask = phantoms[0]
    with pytest.raises(ValueError, match="unknown artifact kind"):
        inject("stripes", img, mask, strength=0.5, rng=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strength"):
        inject("blobs", img, mask, strength=0.0, rng=np.random.default_rng(0))


def _disk(h: int, w: int, cy: int, cx: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_blob_score_rises_with_hole_darkness(phantoms):
    _, img, _ = phantoms[0]
    disk = _disk(*img.shape, 160, 70, 10)
    scores = []
    for factor in (0.9, 0.5, 0.0):
        bad = img.copy()
        bad[disk] *= factor
        scores.append(detect_blobs(bad, compute_anatomy(bad)).score)
    assert scores[0] < scores[1] < scores[2]
    assert scores[2] >= 1.0


def test_halo_around_bright_spot_is_flagged(make_breast):
    img, _ = make_breast(320, 256)
    bad = img.copy()
    bad[_disk(320, 256, 160, 90, 16) & ~_disk(320, 256, 160, 90, 6)] *= 0.1
    bad[_disk(320, 256, 160, 90, 6)] = 0.9  # bright core, not saturated
    f = detect_blobs(bad, compute_anatomy(bad))
    assert f.flag and "dark" in f.reason


def test_large_smooth_dark_region_is_not_a_hole(make_breast):
    # Fatty tissue: much darker than dense tissue, but broad and smooth, not compact with an edge.
    img, mask = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    fat = np.exp(-(((yy - 160) / 60.0) ** 2 + ((xx - 90) / 45.0) ** 2))
    img = np.where(mask, img * (1 - 0.6 * fat), 0).astype(np.float32)
    assert not detect_blobs(img, compute_anatomy(img)).flag


def test_clipped_plateau_without_an_edge_is_not_a_blob(make_breast):
    # Clipping that only flattens bright tissue (the surroundings stay near white) is not a blob.
    img, mask = make_breast(320, 256, level=0.9)
    yy, xx = np.mgrid[:320, :256]
    img = np.where(mask, np.minimum(1.0, img + 0.2 * np.exp(-(((yy - 160) ** 2 + (xx - 90) ** 2) / 7200.0))), 0)
    f = detect_blobs(img.astype(np.float32), compute_anatomy(img.astype(np.float32)))
    assert not f.flag


def test_background_noise_score_rises_with_strength_and_text_is_ignored(phantoms):
    _, img, mask = phantoms[1]
    an = compute_anatomy(img)
    scores = [detect_background(inject("background", img, mask, strength=s, rng=np.random.default_rng(4)),
                                an).score for s in (0.1, 0.3, 1.0)]
    assert scores[0] < scores[1] < scores[2] and scores[2] >= 1.0
    labelled = img.copy()
    labelled[10:30, 200:240] = 0.95  # a burned-in label in the background
    labelled[14:26, 204:236:3] = 0.2
    assert not detect_background(labelled, compute_anatomy(labelled)).flag


@pytest.mark.parametrize("kind", ["blobs", "background"])
def test_variant_injectors_change_only_their_region(phantoms, kind):
    from mammoeval.qa.inject import VARIANTS

    _, img, mask = phantoms[2]
    out = VARIANTS[kind](img, mask, 1.0, np.random.default_rng(5))
    changed = np.abs(out - img) > 1e-6
    assert changed.any() and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    if kind == "background":
        assert not changed[mask].any()
    else:
        assert changed[mask].sum() > 0.9 * changed.sum()


def test_tiles_injector_repeats_fine_texture_at_its_period(phantoms):
    from scipy import ndimage as ndi

    from mammoeval.qa.inject import inject_tiles

    _, img, mask = phantoms[0]
    out = inject_tiles(img, mask, 1.0, np.random.default_rng(6))
    fine = out - ndi.gaussian_filter(img, 3.0)
    changed = np.argwhere(np.abs(out - img) > 1e-6)
    (y0, x0), (y1, _) = changed.min(axis=0), changed.max(axis=0)
    t = (y1 - y0 + 1) // 4  # strength 1: 4 x 4 tiles
    a, b = fine[y0:y0 + t, x0:x0 + t], fine[y0 + t:y0 + 2 * t, x0:x0 + t]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
