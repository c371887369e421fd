"""Fréchet distance against the sqrtm formula and closed forms; KID and PRDC on Gaussian toy data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from mammoeval.metrics.frechet import features_to_stats, frechet_distance, kid_subsets
from mammoeval.metrics.prdc import compute_prdc_indicators


def _sqrtm_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_matches_sqrtm_formula(dim: int) -> None:
    rng = np.random.default_rng(dim)
    a = rng.normal(size=(500, dim))
    b = rng.normal(size=(400, dim)) @ rng.normal(size=(dim, dim)) * 0.5 + 0.3
    mu1, s1 = features_to_stats(a)
    mu2, s2 = features_to_stats(b)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_sqrtm_fid(mu1, s1, mu2, s2), rel=1e-6)


def test_equal_covariances_give_squared_mean_distance() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(8, 8))
    cov = m @ m.T
    mu1, mu2 = np.zeros(8), np.arange(8.0)
    assert frechet_distance(mu1, cov, mu2, cov) == pytest.approx(float(mu2 @ mu2), rel=1e-9)
    assert frechet_distance(mu1, cov, mu1, cov) == pytest.approx(0.0, abs=1e-9)


def test_warns_when_fewer_samples_than_dimensions_and_stays_finite() -> None:
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="fewer samples than dimensions"):
        mu1, s1 = features_to_stats(rng.normal(size=(5, 32)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mu2, s2 = features_to_stats(rng.normal(size=(5, 32)))
    assert np.isfinite(frechet_distance(mu1, s1, mu2, s2))


def test_kid_unbiased_near_zero_for_same_distribution_positive_for_shift() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same = kid_subsets(a, b, n_subsets=20, subset_size=200, seed=0)
    shifted = kid_subsets(a, b + 1.0, n_subsets=20, subset_size=200, seed=0)
    assert abs(same.mean()) < 3 * same.std() / np.sqrt(len(same)) + 1e-3
    assert shifted.mean() > 10 * abs(same.mean()) and shifted.mean() > 0.05
    assert (kid_subsets(a, b, n_subsets=5, seed=3) == kid_subsets(a, b, n_subsets=5, seed=3)).all()


def test_prdc_collapsed_generator_high_precision_low_recall() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=g)
    collapsed = 0.1 * torch.randn(400, 8, generator=g)  # all mass at the centre of the real cloud
    ind = compute_prdc_indicators(real, collapsed)
    assert ind.precision.mean() > 0.9
    assert ind.recall.mean() < 0.2
    assert ind.coverage.mean() < 0.5
    fair = compute_prdc_indicators(real, torch.randn(400, 8, generator=g))
    assert fair.precision.mean() > 0.6 and fair.recall.mean() > 0.6
    assert 0.7 < fair.density.mean() < 1.3
    far = compute_prdc_indicators(real, torch.randn(400, 8, generator=g) + 20)
    assert far.precision.mean() == 0 and far.coverage.mean() == 0
