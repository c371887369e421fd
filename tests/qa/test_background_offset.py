"""Anatomy on a uniform non-black background with burned-in text and markers (constructed cases)."""

from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa import check_image
from mammoeval.qa.anatomy import (
    background_region,
    compute_anatomy,
    estimate_background_offset,
    flatten_background,
)


def _text(img: np.ndarray, y: int, x: int, value: float, n: int = 6) -> None:
    """Draw n crude glyphs (12 px high strokes and bars) at (y, x)."""
    for k in range(n):
        img[y:y + 12, x + 8 * k:x + 8 * k + 2] = value
        img[y:y + 2, x + 8 * k:x + 8 * k + 6] = value
        img[y + 6:y + 8, x + 8 * k:x + 8 * k + 6] = value


def _grey_case(seed: int, view: str, level: float, *, mirror: bool = False):
    """Return (image, clean black-background image, truth mask): the phantom's tissue mapped to
    0.25-0.85 (its faint outer tissue darker than the background), a uniform `level` background with
    faint noise, white and black burned-in text and a square marker in the corners."""
    from mammoeval.data.phantom import render_phantom

    p = render_phantom(seed, size=(320, 256), view=view)
    mask = p.truth.breast_mask
    rng = np.random.default_rng(seed)
    grey = np.where(mask, 0.25 + 0.75 * p.image, level) + 0.002 * rng.standard_normal(mask.shape)
    grey = grey.astype(np.float32)
    _text(grey, 8, 190, 0.98)
    _text(grey, 300, 190, 0.02)
    grey[292:306, 8:22] = 1.0 if view == "CC" else grey[292:306, 8:22]
    grey = np.clip(np.round(grey * 255) / 255, 0, 1).astype(np.float32)
    black = p.image.astype(np.float32)
    if mirror:
        return grey[:, ::-1].copy(), black[:, ::-1].copy(), mask[:, ::-1].copy()
    return grey, black, mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _coarse_truth(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from mammoeval.qa.detectors.base import mask_at

    return mask_at(mask, shape, mask.shape[0] / shape[0])


@pytest.mark.parametrize("seed,view,level", [(0, "CC", 0.5), (1, "MLO", 0.5), (2, "MLO", 0.3)])
def test_grey_background_anatomy_matches_the_black_one(seed, view, level):
    grey, black, truth = _grey_case(seed, view, level)
    a_grey, a_black = compute_anatomy(grey), compute_anatomy(black)
    assert a_grey.background_offset == pytest.approx(level, abs=0.01) and a_grey.background_not_black
    assert a_black.background_offset == 0.0 and not a_black.background_not_black
    truth_c = _coarse_truth(truth, a_grey.mask.shape)
    assert _iou(a_grey.mask, truth_c) > 0.9, "breast mask on the grey background"
    assert a_grey.chest_wall_side == a_black.chest_wall_side == "left"
    assert a_grey.pectoral_present == a_black.pectoral_present
    row_grey, _ = check_image(grey, view=view)
    row_black, _ = check_image(black, view=view)
    assert row_grey.predicted_view == row_black.predicted_view == view
    assert row_grey.background_not_black and row_grey.background_level == pytest.approx(level, abs=0.01)
    assert not row_grey.flags["background"], row_grey.reasons
    assert "textured background" not in row_grey.reasons


def test_mirrored_grey_case_finds_the_chest_wall_on_the_right():
    grey, _, truth = _grey_case(0, "MLO", 0.45, mirror=True)
    a = compute_anatomy(grey)
    assert a.chest_wall_side == "right"
    assert _iou(a.mask, _coarse_truth(truth[:, ::-1], a.mask.shape)) > 0.9


def test_background_region_excludes_text_and_tissue_of_the_same_grey():
    grey, _, truth = _grey_case(1, "CC", 0.5)
    bg = background_region(grey, 0.5)
    # Flat faint tissue at the skin line that matches the background grey is indistinguishable from it:
    # at most a thin fringe of the breast is taken.
    assert bg[5, 250] and bg[~truth].mean() > 0.9 and bg[truth].mean() < 0.1
    assert not bg[300:312, 190:192].any()  # black text strokes
    assert not bg[8:20, 190:192].any()  # white text strokes


def test_texture_on_a_grey_background_is_still_texture():
    grey, _, truth = _grey_case(0, "CC", 0.5)
    rng = np.random.default_rng(9)
    from scipy import ndimage as ndi

    noise = ndi.gaussian_filter(rng.standard_normal(grey.shape), 1.5)
    textured = np.clip(grey + np.where(truth, 0.0, 0.04 * noise / noise.std()), 0, 1).astype(np.float32)
    row, _ = check_image(textured, view="CC")
    assert row.flags["background"], row.scores


def test_black_and_film_backgrounds_are_left_alone():
    from mammoeval.data.phantom import render_phantom

    img = render_phantom(3, size=(320, 256), view="CC").image.astype(np.float32)
    flat, offset = flatten_background(img)
    assert offset == 0.0 and flat is img or np.array_equal(flat, img)
    rng = np.random.default_rng(0)
    film = np.clip(0.15 + 0.06 * rng.standard_normal((256, 200)), 0, 1)  # grainy grey film base: not uniform
    assert estimate_background_offset(film) == 0.0
