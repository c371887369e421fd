"""Pure ingest array functions: windowing, bit depth, grey conversion, fit arithmetic, padding, anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest

from mammoeval.data import preprocess as pp


def test_linear_window_matches_the_standard_formula_by_hand() -> None:
    # c=100, w=201: lower edge c-0.5-(w-1)/2 = -0.5, upper c-0.5+(w-1)/2 = 199.5, y = (x - 99.5)/200 + 0.5
    x = np.array([-10, 0, 99.5, 100, 199, 250])
    y = pp.apply_window(x, 100, 201)
    np.testing.assert_allclose(y, [0.0, 0.0025, 0.5, 0.5025, 0.9975, 1.0], atol=1e-6)
    assert y.dtype == np.float32


def test_linear_exact_and_sigmoid_windows() -> None:
    x = np.array([0.0, 50.0, 100.0, 150.0, 200.0])
    np.testing.assert_allclose(pp.apply_window(x, 100, 100, function="LINEAR_EXACT"), [0, 0, 0.5, 1, 1])
    s = pp.apply_window(x, 100, 100, function="SIGMOID")
    assert s[2] == pytest.approx(0.5)
    assert s[3] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-6)
    assert np.all(np.diff(s) > 0)


def test_apply_lut_clips_below_and_past_the_table() -> None:
    lut = np.array([255, 200, 100, 0])  # first mapped value 10, 8-bit entries
    y = pp.apply_lut(np.array([-5, 10, 11, 12, 13, 300]), lut, first_mapped=10, bits=8)
    np.testing.assert_allclose(y, [1.0, 1.0, 200 / 255, 100 / 255, 0.0, 0.0], atol=1e-7)


def test_window_rejects_non_positive_width() -> None:
    with pytest.raises(ValueError, match="width"):
        pp.apply_window(np.zeros(3), 0, 0)


@pytest.mark.parametrize(("max_value", "bits"), [(200, 10), (1023, 10), (1024, 12), (4095, 12), (4096, 14),
                                                 (16383, 14), (65535, 16)])
def test_detect_bit_depth_picks_the_smallest_depth_that_holds_the_max(max_value: int, bits: int) -> None:
    assert pp.detect_bit_depth(max_value) == bits


def test_detect_bit_depth_keeps_8_bit_containers() -> None:
    assert pp.detect_bit_depth(17, container_bits=8) == 8


def test_to_grey_collapses_equal_channels_and_uses_luma_for_colour() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out, equal = pp.to_grey(np.stack([grey] * 3, axis=-1))
    assert equal
    np.testing.assert_array_equal(out, grey.astype(np.float32))
    colour = np.zeros((2, 2, 3), dtype=np.uint8)
    colour[..., 0] = 100
    out, equal = pp.to_grey(colour)
    assert not equal
    np.testing.assert_allclose(out, 29.9, atol=1e-4)


def test_robust_range_ignores_the_background_and_rescale_clips() -> None:
    x = np.zeros((100, 100))
    x[:, :50] = np.linspace(1000, 2000, 50)[None, :]  # tissue; background 0 is half the image
    lo, hi = pp.robust_range(x)
    assert 1000 <= lo < 1020 and 1980 < hi <= 2000
    y = pp.rescale(x, lo, hi)
    assert y.min() == 0.0 and y.max() == 1.0 and y.dtype == np.float32
    lo1, hi1 = pp.robust_range(3000 - x, tissue_is_bright=False)  # MONOCHROME1 polarity
    assert lo1 == pytest.approx(3000 - hi) and hi1 == pytest.approx(3000 - lo)


def test_invert_and_flip() -> None:
    img = np.array([[0.0, 0.25], [1.0, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(pp.invert(img), [[1.0, 0.75], [0.0, 0.5]])
    flipped, did = pp.flip_to_left(img, "right")
    assert did and flipped[0, 0] == 0.25
    same, did = pp.flip_to_left(img, "left")
    assert not did and same is img


def test_plan_fit_tall_source_pads_right() -> None:
    plan = pp.plan_fit((200, 150), (80, 64))  # scale min(0.4, 0.4267) = 0.4 -> 80 x 60
    assert plan.scale == pytest.approx(0.4)
    assert (plan.fitted_height, plan.fitted_width) == (80, 60)
    assert (plan.pad_top, plan.pad_bottom, plan.pad_left, plan.pad_right) == (0, 0, 0, 4)


def test_plan_fit_wide_source_pads_top_and_bottom_with_the_odd_pixel_at_the_bottom() -> None:
    plan = pp.plan_fit((100, 200), (81, 64))  # scale 0.32 -> 32 x 64, 49 rows of padding
    assert (plan.fitted_height, plan.fitted_width) == (32, 64)
    assert (plan.pad_top, plan.pad_bottom, plan.pad_right) == (24, 25, 0)


def test_plan_fit_marks_upsampling_and_rejects_empty_sizes() -> None:
    assert pp.plan_fit((40, 30), (80, 64)).upsamples
    assert not pp.plan_fit((1280, 1024), (1280, 1024)).upsamples
    with pytest.raises(ValueError, match="positive"):
        pp.plan_fit((0, 10), (80, 64))


def test_fit_to_places_the_image_against_the_left_edge_and_pads_with_zeros() -> None:
    img = np.full((200, 150), 0.7, dtype=np.float32)
    out, plan = pp.fit_to(img, (80, 64))
    assert out.shape == (80, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, :60], 0.7, atol=1e-5)  # a constant stays constant (no ringing)
    assert np.all(out[:, 60:] == 0)
    assert plan.pad_right == 4


def test_resample_is_anti_aliased() -> None:
    # A one-pixel checkerboard aliases to all-0 or all-1 under plain subsampling; filtered, it is grey.
    yy, xx = np.mgrid[0:160, 0:128]
    board = ((yy + xx) % 2).astype(np.float32)
    assert board[::4, ::4].std() == 0 and board[::4, ::4].mean() in (0.0, 1.0)
    small = pp.resample(board, (40, 32))
    inner = small[4:-4, 4:-4]
    assert abs(float(inner.mean()) - 0.5) < 0.02 and float(inner.std()) < 0.05


def test_resample_keeps_the_range() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((97, 61)).astype(np.float32)
    out = pp.resample(img, (31, 20))
    assert out.min() >= 0 and out.max() <= 1 and out.shape == (31, 20)
