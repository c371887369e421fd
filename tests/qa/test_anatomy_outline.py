"""Skin-line concavity (notches) and solid islands beside the breast."""

from __future__ import annotations

import copy

import numpy as np

from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.artifacts import detect_boundary
from mammoeval.qa.inject import inject_boundary


def _bitten(img: np.ndarray, n: int, radius: float) -> np.ndarray:
    """Return img with n round notches of `radius` px bitten evenly into the half-ellipse skin line."""
    h, w = img.shape
    yy, xx = np.mgrid[:h, :w]
    out = img.copy()
    for t in np.linspace(-1.2, 1.2, n):
        cy, cx = h / 2 + 0.45 * h * np.sin(t), 0.7 * w * np.cos(t)
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 0.0
    return out


def test_smooth_skin_line_has_little_concavity(make_breast, phantoms):
    img, _ = make_breast(320, 256)
    assert compute_anatomy(img).skin_concavity < 0.5
    for _, ph, _ in phantoms:
        assert compute_anatomy(ph).skin_concavity < 2.5


def test_each_notch_adds_about_half_a_turn(make_breast):
    img, _ = make_breast(320, 256)
    values = [compute_anatomy(_bitten(img, n, 6.0)).skin_concavity for n in (4, 8, 16)]
    assert values[0] < values[1] < values[2]
    for n, v in zip((4, 8, 16), values, strict=True):
        assert 0.5 * n <= v <= 1.5 * n, (n, v)


def test_notched_skin_line_flags_boundary(make_breast):
    img, _ = make_breast(320, 256)
    assert not detect_boundary(compute_anatomy(img)).flag
    f = detect_boundary(compute_anatomy(_bitten(img, 12, 6.0)))
    assert f.flag and "notched" in f.reason


def test_solid_island_counts_but_label_strokes_do_not(make_breast):
    img, _ = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    right = 0.7 * 256  # the skin line at mid height
    island = img.copy()  # a solid lump 20% of the width beyond the skin line
    island[(yy - 60) ** 2 + (xx - (right + 0.2 * 256 * 0.8)) ** 2 <= 14**2] = 0.45
    assert compute_anatomy(island).n_components == 2
    label = img.copy()  # an "L" of 3-px strokes at the same place: a burned-in label
    x0 = int(right + 0.2 * 256 * 0.7)
    label[40:80, x0:x0 + 3] = 0.9
    label[77:80, x0:x0 + 25] = 0.9
    assert compute_anatomy(label).n_components == 1


def test_ragged_skin_injection_is_flagged_on_phantoms(phantoms):
    hits = []
    for _, img, mask in phantoms:
        rng = np.random.default_rng(0)
        while int(copy.deepcopy(rng).integers(3)) != 2:  # the ragged-skin-line kind
            rng = np.random.default_rng(int(rng.integers(1 << 30)))
        bad = inject_boundary(img, mask, 0.5, rng)
        hits.append(detect_boundary(compute_anatomy(bad)).flag)
    assert np.mean(hits) >= 5 / 6


def test_fine_concavity_keeps_notches_of_images_just_over_512_rows(make_breast):
    """A 600-row image (halved to 300 rows for the outline) is also measured at 600 rows: 4-px notches
    stay 4 px deep there and flag the boundary, whereas at 300 rows they turn too little."""
    img, _ = make_breast(600, 480)
    clean = compute_anatomy(img)
    assert clean.skin_concavity_fine < 0.5 and not detect_boundary(clean).flag
    bitten = compute_anatomy(_bitten(img, 16, 4.0))
    assert bitten.skin_concavity_fine > 1.5 * bitten.skin_concavity
    f = detect_boundary(bitten)
    assert f.flag and "notched" in f.reason
    halved = compute_anatomy(reduce_to_height(_bitten(img, 16, 4.0), 300)[0])
    assert halved.skin_concavity_fine == 0.0  # 300 rows: no finer image than the outline one
    assert not detect_boundary(halved).flag


def test_fine_minimum_turn_drops_small_wiggles_but_keeps_larger_ones():
    """A skin line wiggling by 0.8 px (about 60 ripples) turns concave by runs of 0.05-0.1 half turn:
    counted with the outline minimum (0.05), not with MIN_NOTCH_TURN_FINE (0.1); 1.2-px ripples count with both."""
    from scipy import ndimage as ndi

    from mammoeval.qa.anatomy import MIN_NOTCH_TURN, MIN_NOTCH_TURN_FINE, compute_skin_concavity

    h, w = 600, 480
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    ripple = np.sin(60 * np.arctan2(yy - h / 2, xx))
    values = {}
    for amp in (0.8, 1.2):
        r = np.hypot((yy - h / 2) / (0.45 * h), xx / (0.7 * w)) * (1 + amp / 300 * ripple)
        blurred = ndi.gaussian_filter(np.where(r <= 1, 0.6, 0.0).astype(np.float32), 1.0)
        values[amp] = [compute_skin_concavity(blurred, blurred > 0.1, 0.1, min_turn=t)
                       for t in (MIN_NOTCH_TURN, MIN_NOTCH_TURN_FINE)]
    assert values[0.8][0] > 1.0 and values[0.8][1] < 0.2
    assert values[1.2][1] > 2.0


def test_island_behind_a_narrow_gap_counts_at_fine_size(make_breast):
    """A solid island 3 px beside the skin line of a 600-row image: the gap closes when the image is
    halved to 300 outline rows, but the components are also counted at 600 rows."""
    img, _ = make_breast(600, 480)
    yy, xx = np.mgrid[:600, :480]
    island = img.copy()
    island[(yy - 300) ** 2 + (xx - (0.7 * 480 + 3 + 30)) ** 2 <= 30**2] = 0.45
    assert compute_anatomy(img).n_components == 1
    assert compute_anatomy(reduce_to_height(island, 300)[0]).n_components == 1
    an = compute_anatomy(island)
    assert an.n_components == 2
    f = detect_boundary(an)
    assert f.flag and "extra component" in f.reason
