"""Bootstrap confidence intervals and seeded real-vs-real splits.

Every headline number carries a 95 % percentile-bootstrap interval. What is resampled depends on
the metric and is documented there: per-item values (MS-SSIM pairs, precision/recall indicators,
KID subsets, nearest-neighbour distances) are resampled directly; SWD resamples whole images
(their descriptor groups); FID resamples the generated features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bootstrap_ci(
    values: np.ndarray | None = None,
    *,
    statistic: Callable[[np.ndarray], float] | None = None,
    n: int | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """Return the (alpha/2, 1 - alpha/2) percentile-bootstrap interval, or None when it cannot be formed.

    Either pass `values` (the mean of a resample is the statistic) or `statistic` and `n`:
    `statistic(indices)` receives int64 indices in [0, n) drawn with replacement.

    Args:
        values: float [n] per-item values whose mean is the headline number.
        statistic: function of resampled indices returning the headline number.
        n: number of items `statistic` resamples.
        n_bootstrap: resamples; 0 disables the interval.
        seed: seeds the `numpy.random.Generator` that draws the indices.
        alpha: 1 - confidence level.
    """
    if values is not None:
        v = np.asarray(values, dtype=np.float64)
        n = v.shape[0]
        statistic = lambda idx: float(v[idx].mean())  # noqa: E731
    if statistic is None or n is None:
        raise ValueError("pass values, or statistic and n")
    if n_bootstrap <= 0 or n < 2:
        return None
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_bootstrap)], dtype=np.float64)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return None
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def split_halves(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return two disjoint index arrays covering [0, n) (sizes floor(n/2) and the rest), seeded."""
    perm = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return np.sort(perm[:half]), np.sort(perm[half:])
