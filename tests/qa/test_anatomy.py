from __future__ import annotations

import numpy as np

from mammoeval.core.imageops import chest_wall_side, reduce_to_height
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.view import compute_view_agreement


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_breast_mask_matches_phantom_truth(phantoms):
    for _, img, truth in phantoms:
        an = compute_anatomy(img)
        truth_coarse = reduce_to_height(truth.astype(np.float32), 256)[0] > 0.5
        assert _iou(an.mask, truth_coarse) > 0.9
        assert an.chest_wall_side == "left"
        assert an.n_components == 1 and an.n_holes == 0


def test_chest_wall_side_follows_a_mirror(phantoms):
    _, img, _ = phantoms[0]
    an = compute_anatomy(np.ascontiguousarray(img[:, ::-1]))
    assert an.chest_wall_side == "right"
    # The anatomy is always reported in canonical orientation.
    assert an.mask[:, :5].mean() > an.mask[:, -5:].mean()
    assert chest_wall_side(np.ones((10, 10), bool)[:, ::-1] & (np.arange(10) < 3))[0] == "left"


def test_hole_and_island_are_counted(make_breast):
    img, mask = make_breast(320, 256)
    holed = img.copy()
    yy, xx = np.mgrid[:320, :256]
    holed[(yy - 160) ** 2 + (xx - 60) ** 2 <= 12**2] = 0.0
    assert compute_anatomy(holed).n_holes == 1
    island = img.copy()
    island[(yy - 160) ** 2 + (xx - 205) ** 2 <= 10**2] = 0.45  # beside the nipple
    assert compute_anatomy(island).n_components == 2
    assert compute_anatomy(img).skin_jaggedness < 0.1


def test_area_fraction_of_a_known_shape(make_breast):
    img, mask = make_breast(320, 256)
    assert abs(compute_anatomy(img).area_fraction - mask.mean()) < 0.02


def test_view_agreement_hand_case():
    pairs = [("CC", "CC"), ("CC", "MLO"), ("MLO", "MLO"), ("unknown", "CC")]
    got = compute_view_agreement(pairs)
    assert got == {"CC": 0.5, "MLO": 1.0, "all": 2 / 3}
    assert compute_view_agreement([])["CC"] is None


def test_dark_notch_cut_at_the_image_edge_counts_as_a_hole():
    # A breast filling the top edge with a dark bite cut into it from that edge: enclosed by
    # breast on both sides along the edge, so it is a hole, not background.
    h, w = 320, 256
    yy, xx = np.mgrid[:h, :w]
    img = np.where(xx < 0.75 * w - 0.2 * np.abs(yy - h / 2), 0.5, 0.0).astype(np.float32)
    assert compute_anatomy(img).n_holes == 0
    bitten = img.copy()
    bitten[(yy - 0) ** 2 + (xx - 90) ** 2 <= 20**2] = 0.0
    assert compute_anatomy(bitten).n_holes == 1


def test_island_a_few_pixels_from_the_breast_is_a_separate_component(make_breast):
    img, mask = make_breast(640, 512)
    yy, xx = np.mgrid[:640, :512]
    right = int(np.nonzero(mask[320])[0].max())
    island = img.copy()
    island[(yy - 320) ** 2 + (xx - (right + 6 + 25)) ** 2 <= 25**2] = 0.45  # 6-px gap at 640 rows
    assert compute_anatomy(island).n_components == 2


def test_a_hole_is_as_flat_as_the_background_textured_dark_tissue_is_not(make_breast):
    # Three enclosed regions darker than the hole level, the same size: flat black (background seen
    # through the breast: a hole), black with the background's own noise (still a hole), and dark
    # tissue with texture of 0.02 grey levels over a black background (dark fat, not a hole).
    img, _ = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    disk = (yy - 160) ** 2 + (xx - 70) ** 2 <= 20**2
    rng = np.random.default_rng(0)
    flat = img.copy()
    flat[disk] = 0.0
    assert compute_anatomy(flat).n_holes == 1
    noise = np.abs(rng.normal(0.0, 0.02, img.shape)).astype(np.float32)
    noisy_bg = np.where(img > 0.05, img, noise)
    noisy_bg[disk] = noise[disk]
    assert compute_anatomy(noisy_bg).n_holes == 1
    textured = img.copy()
    textured[disk] = 0.004 + np.abs(rng.normal(0.0, 0.02, int(disk.sum())))
    assert compute_anatomy(textured).n_holes == 0
