"""Breast-aware SWD and MS-SSIM: centres inside the breast, region-weighted MS-SSIM, the QA mask mapped back."""

from __future__ import annotations

import pytest
import torch

from mammoeval.data.imageset import TensorImageSet
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings, ms_ssim
from mammoeval.metrics.regions import compute_breast_masks, downsample_mask, erode_mask
from mammoeval.metrics.swd import SWDMetric, SWDSettings, sample_patch_centers_in_mask
from mammoeval.qa.breast_mask import compute_breast_mask
from tests.metrics.conftest import breast_images


def test_erode_mask_shrinks_a_square_by_the_margin() -> None:
    m = torch.zeros(1, 1, 12, 12, dtype=torch.bool)
    m[0, 0, 2:10, 3:9] = True
    out = erode_mask(m, 2)[0, 0]
    expected = torch.zeros(12, 12, dtype=torch.bool)
    expected[4:8, 5:7] = True
    assert torch.equal(out, expected)
    # pixels beyond the border count as outside
    assert not erode_mask(torch.ones(1, 1, 5, 5, dtype=torch.bool), 1)[0, 0, 0].any()


def test_downsample_mask_keeps_cells_at_least_half_inside() -> None:
    m = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    m[0, 0, :, :2] = True
    m[0, 0, 0, 2] = True  # a quarter of the top-right cell
    assert downsample_mask(m, (2, 2))[0, 0].tolist() == [[True, False], [True, False]]


def test_patch_centres_lie_inside_the_eroded_mask_and_repeat_with_the_seed() -> None:
    mask = torch.zeros(40, 30, dtype=torch.bool)
    mask[5:35, 0:20] = True
    draw = lambda s: sample_patch_centers_in_mask(mask, 200, patch_size=7, margin_px=2,  # noqa: E731
                                                  generator=torch.Generator().manual_seed(s))
    ys, xs = draw(0)
    inner = erode_mask(mask[None, None], 3 + 2)[0, 0]
    assert inner[ys, xs].all()
    assert torch.equal(draw(0)[0], ys) and not torch.equal(draw(1)[0], ys)


def test_patch_centres_fall_back_to_the_mask_then_to_the_image() -> None:
    thin = torch.zeros(20, 20, dtype=torch.bool)
    thin[10, 5:15] = True  # no 7x7 patch fits inside: centres on the mask itself
    ys, xs = sample_patch_centers_in_mask(thin, 50, patch_size=7, margin_px=2, generator=torch.Generator().manual_seed(0))
    assert thin[ys, xs].all()
    ys, xs = sample_patch_centers_in_mask(torch.zeros(20, 20, dtype=torch.bool), 50, patch_size=7, margin_px=2,
                                          generator=torch.Generator().manual_seed(0))
    assert bool(((ys >= 3) & (ys < 17) & (xs >= 3) & (xs < 17)).all())


def test_breast_mask_covers_the_breast_and_follows_a_flip() -> None:
    x = breast_images(2, seed=0)
    m = compute_breast_masks(x, compute_breast_mask)
    truth = x > 0
    iou = ((m & truth).sum((1, 2, 3)) / (m | truth).sum((1, 2, 3))).min()
    assert float(iou) > 0.85
    assert torch.equal(compute_breast_masks(x.flip(-1), compute_breast_mask), m.flip(-1))


def test_region_msssim_of_ones_is_the_standard_msssim() -> None:
    x, y = breast_images(2, seed=1), breast_images(2, seed=2)
    plain = ms_ssim(x, y, dtype=torch.float64)
    assert torch.allclose(ms_ssim(x, y, dtype=torch.float64, region=torch.ones_like(x)), plain, atol=1e-12)
    with pytest.raises(ValueError, match="region"):
        ms_ssim(x, y, region=torch.ones(2, 1, 8, 8))


def test_breast_msssim_ignores_the_shared_black_background() -> None:
    x, y = breast_images(3, seed=1), breast_images(3, seed=2)
    region = (x > 0) | (y > 0)
    whole = ms_ssim(x, y, dtype=torch.float64)
    breast = ms_ssim(x, y, dtype=torch.float64, region=region.double())
    assert (breast < whole).all()  # identical black corners made the pair look more alike


def test_breast_mode_metrics_run_and_rank_blur_above_a_fresh_draw() -> None:
    real, fresh, blurred = breast_images(8, seed=3), breast_images(8, seed=4), breast_images(8, seed=4, blur=2)
    views = torch.arange(8) % 2
    values = []
    for fake in (fresh, blurred):
        swd = SWDMetric(SWDSettings(region="breast", n_bootstrap=0, patches_per_image=32),
                        breast_masker=compute_breast_mask)
        for r, s in ((True, real), (False, fake)):
            for b in TensorImageSet(s, views).iter_batches(4):
                swd.update(b, real=r)
        values.append(swd.compute()["all"]["swd_avg_breast"].value)
    assert values[1] > values[0]
    diversity = {}
    for region in ("image", "breast"):
        ms = MSSSIMDiversity(MSSSIMSettings(region=region, n_pairs=8, n_bootstrap=0),  # type: ignore[arg-type]
                             breast_masker=compute_breast_mask)
        for r in (True, False):
            for b in TensorImageSet(real, views).iter_batches(8):
                ms.update(b, real=r)
        diversity[region] = ms.compute()["all"]["msssim_real" if region == "image" else "msssim_real_breast"].value
    assert diversity["breast"] < diversity["image"]  # the same pairs, without their shared background
    with pytest.raises(ValueError, match="region"):
        SWDSettings(region="torso")  # type: ignore[arg-type]


def test_breast_mode_without_a_masker_says_how_to_get_one() -> None:
    swd = SWDMetric(SWDSettings(region="breast", n_bootstrap=0))
    with pytest.raises(ValueError, match="breast_masker"):
        swd.update(next(TensorImageSet(breast_images(2), torch.zeros(2)).iter_batches(2)), real=True)
