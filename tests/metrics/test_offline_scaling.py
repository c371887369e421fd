"""Robust scaling of the offline feature space: values against a NumPy reference, bounded dimensions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammoeval.metrics.offline import CLIP, SCALE_FLOOR_ABS, SCALE_FLOOR_FRACTION, RobustScaling


def test_scaling_matches_median_and_iqr_on_gaussian_data() -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(3.0, 2.0, size=(4001, 3)))
    s = RobustScaling.fit(x)
    ref = x.numpy()
    np.testing.assert_allclose(s.center.numpy(), np.median(ref, 0), rtol=1e-12)
    iqr = np.quantile(ref, 0.75, 0) - np.quantile(ref, 0.25, 0)
    np.testing.assert_allclose(s.scale.numpy(), iqr / 1.349, rtol=1e-12)
    assert s.scale.numpy() == pytest.approx(np.full(3, 2.0), rel=0.05)  # IQR / 1.349 estimates sigma


def test_a_mostly_constant_dimension_falls_back_to_a_share_of_its_std() -> None:
    col = np.zeros(100)
    col[:10] = 1.0  # 90 % of the images at one value: IQR 0
    s = RobustScaling.fit(torch.from_numpy(col[:, None]))
    assert float(s.scale[0]) == pytest.approx(SCALE_FLOOR_FRACTION * col.std(), rel=1e-9)


def test_no_dimension_can_dominate_a_distance() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(64, 10))
    real[:, 0] = 0.25  # constant in the real set
    fake = rng.normal(size=(64, 10))
    fake[:, 0] = 0.26  # a tiny deviation, 1e4 z-scores with a 1e-6 scale
    s = RobustScaling.fit(torch.from_numpy(real))
    assert float(s.scale[0]) == SCALE_FLOOR_ABS
    r, f = s.apply(torch.from_numpy(real)), s.apply(torch.from_numpy(fake))
    assert float(f.abs().max()) == CLIP
    mean_gap = (f.mean(0) - r.mean(0)) ** 2
    assert float(mean_gap[0]) <= CLIP ** 2  # bounded, where unclipped it would be 1e8


def test_fit_rejects_an_empty_reference() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        RobustScaling.fit(torch.empty(0, 3))
