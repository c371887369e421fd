"""Coverage of the 95 % intervals, simulated on toy data whose truth is known.

What an interval is for (uncertainty.py): the expected value of the statistic at the sample sizes
used. The truth of each case is therefore that expectation, computed from many fresh samples of the
same distributions (for KID, whose estimator is unbiased, it equals the population MMD^2). Each case
draws 200 independent trials (real and generated sets both fresh), forms the interval the library
reports and counts how often it holds the truth: 90-99 % must. Sizes and dimensions are tiny so the
whole file runs in seconds; the distributions differ (a shift and a scale change), since a generator
that differs from the data is what an interval must describe.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammoeval.metrics.frd import FRDMetric, FRDSettings, compute_frd
from mammoeval.metrics.frechet import _fd, compute_fid, fd_infinity, frechet_distance, kid_interval, kid_value
from mammoeval.metrics.prdc import PRDC_KEYS, compute_prdc, pairwise, prdc_from_distances
from mammoeval.metrics.swd import SWDSettings, swd_results

TRIALS = 200
LOW, HIGH = 0.90, 0.99


def _gauss(rng: np.random.Generator, n: int, *, shift: float = 0.0, scale: float = 1.0, d: int = 2) -> np.ndarray:
    x = rng.normal(size=(n, d))
    x[:, 0] = x[:, 0] * scale + shift
    return x


def _rate(hits: list[bool]) -> float:
    rate = float(np.mean(hits))
    print(f"coverage {rate:.3f} over {len(hits)} trials")  # shown with pytest -s
    return rate


def test_frechet_interval_covers_expected_value() -> None:
    rng = np.random.default_rng(0)
    n = 40
    truth = np.mean([_fd(_gauss(rng, n), _gauss(rng, n, shift=0.6, scale=1.4)) for _ in range(3000)])
    hits = []
    for t in range(TRIALS):
        r = compute_fid(_gauss(rng, n), _gauss(rng, n, shift=0.6, scale=1.4), floor_splits=1, n_bootstrap=100, seed=t)
        assert r.ci is not None and r.ci[0] <= r.value <= r.ci[1]
        hits.append(r.ci[0] <= truth <= r.ci[1])
    assert LOW <= _rate(hits) <= HIGH, _rate(hits)


def test_frd_interval_covers_expected_value() -> None:
    rng = np.random.default_rng(3)
    n, d = 100, 8
    shift = np.zeros(d)
    shift[0] = 0.4

    def draw() -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift

    truth = np.mean([compute_frd(*draw()) for _ in range(1000)])  # E[ln d^2] at these sizes
    metric = FRDMetric(FRDSettings(n_bootstrap=50, floor_splits=1))
    hits = []
    for t in range(TRIALS):
        r = metric._compute_view(*draw(), t % 3)
        assert r is not None and r.ci is not None and r.ci[0] <= r.value <= r.ci[1]
        hits.append(r.ci[0] <= truth <= r.ci[1])
    assert LOW <= _rate(hits) <= HIGH, _rate(hits)


def test_fd_infinity_removes_the_set_size_bias() -> None:
    """Closed form for Gaussians: FD(N(0, I), N(m e1, diag(s^2, 1, ..))) = m^2 + (s - 1)^2."""
    rng = np.random.default_rng(1)
    truth = 0.6 ** 2 + (1.4 - 1) ** 2
    n = 256
    plain, inf = [], []
    for t in range(40):
        a, b = _gauss(rng, n, d=8), _gauss(rng, n, shift=0.6, scale=1.4, d=8)
        plain.append(_fd(a, b))
        v = fd_infinity(a, b, seed=t)
        assert v is not None
        inf.append(v)
    assert frechet_distance(np.zeros(2), np.eye(2), np.array([0.6, 0]), np.diag([1.96, 1.0])) == pytest.approx(truth)
    assert np.mean(plain) - truth > 0.1  # FID at 256 samples in 8 dimensions: biased upwards
    assert abs(np.mean(inf) - truth) < 0.25 * (np.mean(plain) - truth)
    assert fd_infinity(_gauss(rng, 100), _gauss(rng, 100)) is None  # 100 / 4 < 32: N does not allow the fit


def test_kid_interval_covers_population_mmd() -> None:
    rng = np.random.default_rng(2)
    n = 50
    # unbiased estimator: its expectation is the population MMD^2, here from many fresh estimates
    truth = np.mean([kid_value(_gauss(rng, n), _gauss(rng, n, shift=0.5, scale=1.3), n_subsets=1, subset_size=1000,
                               seed=0) for _ in range(3000)])
    hits = []
    for t in range(TRIALS):
        r, f = _gauss(rng, n), _gauss(rng, n, shift=0.5, scale=1.3)
        v = kid_value(r, f, n_subsets=1, subset_size=1000, seed=0)
        ci = kid_interval(r, f, v, n_bootstrap=100, subset_size=1000, seed=t)
        assert ci is not None and ci[0] <= v <= ci[1]
        hits.append(ci[0] <= truth <= ci[1])
    assert LOW <= _rate(hits) <= HIGH, _rate(hits)


def test_prdc_intervals_cover_expected_values() -> None:
    rng = np.random.default_rng(3)
    n = 48

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(_gauss(rng, n)), torch.from_numpy(_gauss(rng, n, shift=0.5, scale=1.3))

    samples = []
    for _ in range(1500):
        a, b = draw()
        samples.append(prdc_from_distances(pairwise(a, a), pairwise(b, b), pairwise(a, b)))
    truth = {k: np.mean([s[k] for s in samples]) for k in PRDC_KEYS}
    hits: dict[str, list[bool]] = {k: [] for k in PRDC_KEYS}
    for t in range(TRIALS):
        res = compute_prdc(*draw(), repeats=1, floor_splits=0, n_bootstrap=100, seed=t)
        for k in PRDC_KEYS:
            ci = res[k].ci
            assert ci is not None and ci[0] <= res[k].value <= ci[1]
            hits[k].append(ci[0] <= truth[k] <= ci[1])
    rates = {k: _rate(h) for k, h in hits.items()}
    assert all(LOW <= r <= HIGH for r in rates.values()), rates


def _descriptors(rng: np.random.Generator, n: int, *, scale: float = 1.0) -> torch.Tensor:
    """[n, 16, 9] toy patch descriptors: an image effect shared by its patches plus patch noise."""
    img = rng.normal(size=(n, 1, 9)) * 0.7
    return torch.from_numpy((img + rng.normal(size=(n, 16, 9)) * scale).astype(np.float32))


def test_swd_interval_covers_expected_value() -> None:
    rng = np.random.default_rng(4)
    n = 24
    base = SWDSettings(dirs_per_repeat=16, repeats=2, bootstrap_dirs=32, n_bootstrap=100, floor_splits=1,
                       patch_size=3, min_size=3)
    value_only = SWDSettings(dirs_per_repeat=16, repeats=2, n_bootstrap=0, floor_splits=1, patch_size=3, min_size=3)

    def swd(settings: SWDSettings, seed: int) -> tuple[float, tuple[float, float] | None]:
        r = swd_results([_descriptors(rng, n)], [_descriptors(rng, n, scale=1.3)],
                        settings=SWDSettings(**{**settings.__dict__, "seed": seed}), seed=seed)["swd_avg"]
        return r.value, r.ci

    truth = np.mean([swd(value_only, 10_000 + i)[0] for i in range(600)])
    hits = []
    for t in range(TRIALS):
        value, ci = swd(base, t)
        assert ci is not None and ci[0] <= value <= ci[1]
        hits.append(ci[0] <= truth <= ci[1])
    assert LOW <= _rate(hits) <= HIGH, _rate(hits)


def _images(rng: np.random.Generator, n: int, *, contrast: float) -> torch.Tensor:
    """[n, 1, 16, 16] smooth random images whose contrast varies from image to image."""
    coarse = torch.from_numpy(rng.normal(size=(n, 1, 4, 4)).astype(np.float32))
    field = torch.nn.functional.interpolate(coarse, size=(16, 16), mode="bilinear", align_corners=False)
    amp = torch.from_numpy(rng.uniform(0.3, 1.0, size=(n, 1, 1, 1)).astype(np.float32)) * contrast
    noise = torch.from_numpy(rng.normal(size=(n, 1, 16, 16)).astype(np.float32)) * 0.05
    return (0.5 + 0.2 * amp * field + noise).clamp(0, 1)


def test_msssim_intervals_cover_expected_pair_means() -> None:
    from mammoeval.data.imageset import ImageBatch
    from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings, ms_ssim

    rng = np.random.default_rng(5)
    big_r, big_f = _images(rng, 4000, contrast=1.0), _images(rng, 4000, contrast=1.6)
    truth = {"msssim_real": float(ms_ssim(big_r[:2000], big_r[2000:]).mean()),
             "msssim_fake": float(ms_ssim(big_f[:2000], big_f[2000:]).mean())}
    truth["msssim_gap"] = truth["msssim_fake"] - truth["msssim_real"]
    n = 20
    hits: dict[str, list[bool]] = {k: [] for k in truth}
    views = torch.full((n,), -1, dtype=torch.int64)
    for t in range(TRIALS):
        m = MSSSIMDiversity(MSSSIMSettings(n_pairs=60, max_images=n, seed=t, n_bootstrap=200, batch_pairs=60))
        m.update(ImageBatch(_images(rng, n, contrast=1.0), views, [str(i) for i in range(n)]), real=True)
        m.update(ImageBatch(_images(rng, n, contrast=1.6), views, [str(i) for i in range(n)]), real=False)
        res = m.compute()["all"]
        for k in truth:
            ci = res[k].ci
            assert ci is not None and ci[0] <= res[k].value <= ci[1]
            hits[k].append(ci[0] <= truth[k] <= ci[1])
    rates = {k: _rate(h) for k, h in hits.items()}
    assert all(LOW <= r <= HIGH for r in rates.values()), rates
