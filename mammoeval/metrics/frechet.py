"""Fréchet distance (FID) and kernel inception distance (KID) from feature vectors.

Pure stages: features -> statistics (`features_to_stats`) -> number (`frechet_distance`,
`kid_subsets`). Float64 throughout. The trace of the matrix square root is computed from the
eigenvalues of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1) (whose eigenvalues equal those of
S1 S2; sqrt(S1) is replaced by the Cholesky factor when S1 is positive definite, which has the
same eigenvalues and is cheaper), with tiny negative eigenvalues from round-off clipped to 0: no `scipy.linalg.sqrtm`, no
complex parts to discard, and no dependency on pytorch-fid's `calculate_frechet_distance` (which
passes `disp` to sqrtm, removed in SciPy 1.18).

References:
    M. Heusel et al. GANs trained by a two time-scale update rule converge to a local Nash
    equilibrium. NeurIPS 2017 (FID).
    M. Bińkowski et al. Demystifying MMD GANs. ICLR 2018 (KID: unbiased MMD^2 with the kernel
    k(x, y) = (x.y / d + 1)^3, averaged over random subsets).
"""

from __future__ import annotations

import warnings

import numpy as np

from mammoeval.metrics.base import MetricResult
from mammoeval.metrics.uncertainty import (
    extrapolate_to_infinity,
    fd_infinity_fractions,
    matched_floor,
    two_sample_bootstrap,
)


def features_to_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean [D], covariance [D, D]) in float64 of features [N, D] (unbiased covariance).

    Warns (UserWarning) when N < D + 1: the covariance is then singular and FID is biased.
    """
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    if n < 2:
        raise ValueError(f"need at least 2 feature vectors, got {n}")
    if n <= d:
        warnings.warn(f"FID from {n} samples in {d} dimensions: fewer samples than dimensions, the covariance "
                      "is singular and the distance is strongly biased; use more images", stacklevel=2)
    mu = f.mean(0)
    c = f - mu
    return mu, (c.T @ c) / (n - 1)


def sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Return the symmetric PSD square root of a symmetric PSD matrix (negative eigenvalues clipped)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def psd_factor(a: np.ndarray) -> np.ndarray:
    """Return F with F F^T = a for a symmetric PSD matrix: Cholesky when a is positive definite
    (about 3x cheaper), else the symmetric square root (singular covariances, n <= D)."""
    try:
        return np.linalg.cholesky((a + a.T) / 2)
    except np.linalg.LinAlgError:
        return sqrt_psd(a)


def trace_sqrt_product(sigma1_factor: np.ndarray, sigma2: np.ndarray) -> float:
    """Return tr(sqrt(S1 S2)) given F with F F^T = S1: the sum of square roots of eig(F^T S2 F).

    F^T S2 F is symmetric PSD and has the eigenvalues of S1 S2 (similar matrices), so a symmetric
    eigen-solver suffices; round-off negatives are clipped to 0.
    """
    m = sigma1_factor.T @ sigma2 @ sigma1_factor
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Return ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)) in float64 (>= 0 up to round-off)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(psd_factor(s1), s2))


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Return the unbiased MMD^2 between samples x [m, D] and y [n, D] with k(a, b) = (a.b / D + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid_subsets(real: np.ndarray, fake: np.ndarray, *, n_subsets: int = 100, subset_size: int = 1000,
                seed: int = 0) -> np.ndarray:
    """Return the unbiased MMD^2 of `n_subsets` random subsets (without replacement) of each set.

    Args:
        real, fake: features [N, D] and [M, D].
        subset_size: capped at min(N, M); at least 2.
        seed: seeds the `numpy.random.Generator` that draws the subsets.
    """
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, r.shape[0], f.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {r.shape[0]} and {f.shape[0]}")
    rng = np.random.default_rng(seed)
    return np.array([polynomial_mmd2_unbiased(r[rng.choice(r.shape[0], m, replace=False)],
                                              f[rng.choice(f.shape[0], m, replace=False)]) for _ in range(n_subsets)])


def _fd(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Fréchet distance between two feature arrays [n, D] (warnings about n <= D silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return frechet_distance(*features_to_stats(a), *features_to_stats(b))


def _subset(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if m >= n else np.sort(rng.choice(n, size=m, replace=False))


def matched_frechet(real: np.ndarray, fake: np.ndarray, *, repeats: int, rng: np.random.Generator) -> float:
    """Return the Fréchet distance on equal-size sets: the larger set subsampled to the smaller one's
    size, averaged over `repeats` subsamples (the full sets when the sizes are equal)."""
    m = min(real.shape[0], fake.shape[0])
    if real.shape[0] == fake.shape[0]:
        return _fd(real, fake)
    return float(np.mean([_fd(real[_subset(real.shape[0], m, rng)], fake[_subset(fake.shape[0], m, rng)])
                          for _ in range(max(1, repeats))]))


def fd_infinity(real: np.ndarray, fake: np.ndarray, *, seed: int = 0, n_points: int = 8,
                draws: int = 3) -> float | None:
    """Return FD-infinity (Chong & Forsyth 2020), or None when the sets are too small for the fit.

    The Fréchet distance of subsets holding a fraction t of each set (t from 1/4 to 1, evenly in 1/t,
    `draws` random subsets per t, the full sets at t = 1) is fitted by a line in 1/t and extrapolated
    to 1/t = 0: the bias of the Fréchet distance is linear in 1/N for N well above the dimension,
    so the intercept estimates the distance between the two populations, free of set size. Sizes
    follow `uncertainty.fd_infinity_fractions` (the smaller set needs >= 4 x max(32, 2 x D)).
    """

    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    fr = fd_infinity_fractions(min(r.shape[0], f.shape[0]), r.shape[1], n_points=n_points)
    if fr is None:
        return None
    rng = np.random.default_rng(seed)
    vals = []
    for t in fr:
        reps = 1 if t >= 1 else draws
        vals.append(np.mean([_fd(r[_subset(r.shape[0], round(t * r.shape[0]), rng)],
                                 f[_subset(f.shape[0], round(t * f.shape[0]), rng)]) for _ in range(reps)]))
    return extrapolate_to_infinity(fr, np.asarray(vals))  # sizes are proportional to t


def kid_value(real: np.ndarray, fake: np.ndarray, *, n_subsets: int, subset_size: int, seed: int) -> float:
    """Return KID: the unbiased MMD^2 of the full sets when both hold <= `subset_size` samples, else the mean
    over `n_subsets` random subsets of `subset_size` (the published estimator, for large sets)."""
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if max(r.shape[0], f.shape[0]) <= subset_size:
        return polynomial_mmd2_unbiased(r, f)
    return float(kid_subsets(r, f, n_subsets=n_subsets, subset_size=subset_size, seed=seed).mean())


def kid_interval(real: np.ndarray, fake: np.ndarray, value: float, *, n_bootstrap: int, subset_size: int,
                 seed: int) -> tuple[float, float] | None:
    """Return the centred two-sample bootstrap interval of KID (both sets resampled).

    Replicates resample both sets with replacement (at most `subset_size` samples each, m-out-of-n
    above it) and recompute the unbiased MMD^2 from the kernel matrices of the drawn samples. The
    interval reflects the sampling of the images, not the spread of subset averages (whose standard
    error shrinks with the number of subsets however few images there are).
    """

    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if n_bootstrap <= 0 or min(r.shape[0], f.shape[0]) < 2:
        return None
    rng = np.random.default_rng(seed)
    pr = r[_subset(r.shape[0], min(r.shape[0], 4 * subset_size), rng)]
    pf = f[_subset(f.shape[0], min(f.shape[0], 4 * subset_size), rng)]
    d = r.shape[1]
    kxx, kyy, kxy = (pr @ pr.T / d + 1) ** 3, (pf @ pf.T / d + 1) ** 3, (pr @ pf.T / d + 1) ** 3

    def stat(i: np.ndarray, j: np.ndarray) -> float:
        a, b = kxx[np.ix_(i, i)], kyy[np.ix_(j, j)]
        m, n = i.size, j.size
        # a resample's own pairs (same index twice) are the diagonal of a U-statistic: left out
        sa = (a.sum() - a[i[:, None] == i[None, :]].sum()) / max(1, (m * m - int((i[:, None] == i[None, :]).sum())))
        sb = (b.sum() - b[j[:, None] == j[None, :]].sum()) / max(1, (n * n - int((j[:, None] == j[None, :]).sum())))
        return float(sa + sb - 2 * kxy[np.ix_(i, j)].mean())

    return two_sample_bootstrap(stat, pr.shape[0], pf.shape[0], value=value, n_bootstrap=n_bootstrap,
                                seed=int(rng.integers(1 << 62)), m_a=min(pr.shape[0], subset_size),
                                m_b=min(pf.shape[0], subset_size))


def compute_fid(real: np.ndarray, fake: np.ndarray, *, floor_splits: int = 5, n_bootstrap: int = 200,
                seed: int = 0) -> MetricResult:
    """Return the Fréchet distance on equal-size sets with its matched floor and interval.

    Value: `matched_frechet` (the larger set subsampled to the smaller one's size m, averaged over
    `floor_splits` subsamples), so that its expectation equals the floor's for an identical
    generator. Floor: the same between disjoint real subsets of m (uncertainty.matched_floor).
    Interval: centred two-sample bootstrap, m draws with replacement from each set (at most 20
    replicates above 512 dimensions: each needs two covariances and an eigen-decomposition).
    When the real set holds fewer than 2m samples the floor uses floor(N_real / 2) and
    `matched_value` holds the value at that size (both sets subsampled), which the ratio uses.
    The population distance, free of set size, is `fd_infinity`.
    """

    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    rng = np.random.default_rng(seed)
    value = matched_frechet(r, f, repeats=floor_splits, rng=rng)
    m = min(r.shape[0], f.shape[0])
    floor = matched_floor(lambda a, b: {"fd": _fd(r[a], r[b])} if min(len(a), len(b)) >= 2 else {},
                          r.shape[0], m, seed=int(rng.integers(1 << 62)), n_splits=floor_splits).get("fd")
    n_boot = n_bootstrap if r.shape[1] <= 512 else min(n_bootstrap, 20)
    ci = two_sample_bootstrap(lambda i, j: _fd(r[i], f[j]), r.shape[0], f.shape[0], value=value, n_bootstrap=n_boot,
                              seed=int(rng.integers(1 << 62)), m_a=m, m_b=m)
    matched = None
    if floor is not None and floor.size < m:  # too few reals for a floor at m: the value at the floor's size too
        matched = float(np.mean([_fd(r[_subset(r.shape[0], floor.size, rng)], f[_subset(f.shape[0], floor.size, rng)])
                                 for _ in range(max(1, floor_splits))]))
    return MetricResult(value, ci, None, r.shape[0], f.shape[0], matched_value=matched).with_floor(floor)
