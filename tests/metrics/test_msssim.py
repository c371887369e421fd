"""MS-SSIM against pytorch-msssim, the small-image rule, and the diversity score's direction."""

from __future__ import annotations

import pytest
import torch
from pytorch_msssim import ms_ssim as reference_ms_ssim

from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings, ms_ssim, n_scales_for
from tests.metrics.conftest import breast_images


@pytest.mark.parametrize(("h", "w", "dtype"), [(1280, 1024, torch.float32), (200, 170, torch.float64),
                                               (161, 300, torch.float32), (333, 257, torch.float64)])
def test_matches_pytorch_msssim(h: int, w: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(h)
    x = torch.rand(1, 1, h, w, generator=g, dtype=dtype)
    y = (0.6 * x + 0.4 * torch.rand(1, 1, h, w, generator=g, dtype=dtype)).clamp(0, 1)
    expected = reference_ms_ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ms_ssim(x, y), expected, atol=1e-5, rtol=0)


def test_properties() -> None:
    x = breast_images(2, height=176, width=176, seed=1)
    y = breast_images(2, height=176, width=176, seed=2)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2))
    assert torch.allclose(ms_ssim(x, y), ms_ssim(y, x))
    assert bool((ms_ssim(x, y) <= 1).all())
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim(x, y[:, :, :100])


def test_small_images_use_fewer_scales() -> None:
    assert n_scales_for(176, 176) == 5
    assert n_scales_for(160, 160) == 4  # 160 -> 80 -> 40 -> 20 -> 10 < 11
    assert n_scales_for(80, 64) == 3
    x, y = breast_images(2, seed=1), breast_images(2, seed=2)
    v = ms_ssim(x, y)
    assert bool(((v > 0) & (v < 1)).all())
    with pytest.raises(ValueError, match="smaller than"):
        ms_ssim(x[:, :, :8, :8], y[:, :, :8, :8])


def test_collapsed_generator_scores_high_diversity_value() -> None:
    m = MSSSIMDiversity(MSSSIMSettings(n_pairs=20, n_bootstrap=50))
    real = breast_images(8, seed=1)
    collapsed = breast_images(1, seed=3).expand(8, -1, -1, -1) + 1e-3 * torch.rand(8, 1, 80, 64)
    views = torch.zeros(8, dtype=torch.int64)
    m.update(ImageBatch(real, views, [str(i) for i in range(8)]), real=True)
    m.update(ImageBatch(collapsed.clamp(0, 1), views, [str(i) for i in range(8)]), real=False)
    r = m.compute()["all"]
    assert r["msssim_fake"].value > 0.95 > r["msssim_real"].value
    assert r["msssim_fake"].floor == r["msssim_real"].value
    lo, hi = r["msssim_real"].ci
    assert lo <= r["msssim_real"].value <= hi


def test_streaming_sample_is_batch_independent() -> None:
    x = breast_images(10, seed=1)
    views = torch.zeros(10, dtype=torch.int64)
    vals = []
    for bs in (1, 10):
        m = MSSSIMDiversity(MSSSIMSettings(n_pairs=10, max_images=6, n_bootstrap=0))
        for s in range(0, 10, bs):
            m.update(ImageBatch(x[s:s + bs], views[s:s + bs], [str(i) for i in range(s, s + bs)]), real=False)
        vals.append(m.pair_values(False, "all"))
    assert (vals[0] == vals[1]).all()
