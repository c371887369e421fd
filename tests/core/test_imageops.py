"""Shared image operations: box reduction against a reshaped-mean reference, torch == NumPy, the chest-wall rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammoeval.core.imageops import box_reduce, box_reduce_tensor, chest_wall_side, reduce_to_height


@pytest.mark.parametrize(("shape", "factor"), [((8, 6), 2), ((9, 7), 3), ((5, 4), 1), ((17, 13), 4)])
def test_box_reduce_equals_the_block_mean_dropping_trailing_rows(shape: tuple[int, int], factor: int) -> None:
    img = np.random.default_rng(0).random(shape).astype(np.float32)
    h, w = shape[0] // factor * factor, shape[1] // factor * factor
    ref = img[:h, :w].astype(np.float64).reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    out = box_reduce(img, factor)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    t = box_reduce_tensor(torch.from_numpy(img[:h, :w])[None, None], factor)[0, 0].numpy()
    np.testing.assert_allclose(t, ref, rtol=1e-6, atol=1e-7)


def test_box_reduce_refuses_a_zero_factor() -> None:
    with pytest.raises(ValueError, match="factor must be >= 1"):
        box_reduce(np.zeros((4, 4), np.float32), 0)


def test_reduce_to_height_picks_the_smallest_factor_that_fits() -> None:
    img = np.ones((100, 80), np.float64)
    small, f = reduce_to_height(img, 30)
    assert f == 4 and small.shape == (25, 20) and small.dtype == np.float32
    same, f1 = reduce_to_height(img, 100)
    assert f1 == 1 and same.shape == img.shape and same.dtype == np.float32


def test_chest_wall_side_hand_cases() -> None:
    mask = np.zeros((20, 40), bool)
    mask[:, :10] = True  # breast against the left edge
    side, conf = chest_wall_side(mask)
    # left: band mean 1 + half mean 0.5 = 1.5; right: 0 + 0 -> confidence 1
    assert side == "left" and conf == pytest.approx(1.0)
    assert chest_wall_side(mask[:, ::-1]) == ("right", pytest.approx(1.0))
    assert chest_wall_side(np.zeros((5, 5), bool)) == ("left", 0.0)
    both = np.zeros((20, 40), bool)
    both[:, :4] = True
    both[:, -2:] = True  # heavier on the left: band 2/2 vs 1, half 4/20 vs 2/20
    side, conf = chest_wall_side(both)
    assert side == "left" and conf == pytest.approx((1.2 - 1.1) / 2.3)
