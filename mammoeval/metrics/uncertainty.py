"""Sample-size protocol and intervals: matched-size real-vs-real floors, bootstrap intervals, FD-infinity.

Sample-size protocol. Most distribution metrics depend on how many images enter them (FID and SWD
are biased upwards by small sets, coverage and recall by unequal ones), so a value is only
comparable with a floor measured at the same size. The floor of a metric compared against a
generated set of N images is the same metric between two *disjoint* real subsets of N images each,
repeated over `n_splits` seeded random splits; its mean is the floor and the splits' standard
deviation its spread. When the real set holds fewer than 2N images the largest equal size,
floor(N_real / 2), is used instead and recorded (`FloorEstimate.size`; the suite prints one warning
line, `mammoeval.metrics.suite.floor_notes`). An identical generator then sits at ratio value / floor ~ 1.

Intervals. Every interval here is a 95 % interval for the *expected value of the statistic at the
sample sizes used* (the quantity the matched floor also estimates), not for a population value
(FD-infinity addresses the population Fréchet distance). It is the observed value plus the
centred bootstrap quantiles, ``value + quantile(replicates - mean(replicates))`` (a "centred
percentile" interval). Resampling with replacement duplicates items, which biases every distance
statistic (SWD, FID, PRDC radii) upwards in the replicates; the plain percentile interval then
sits above its own point estimate (e.g. FID 5.16 with [6.93, 9.76]); the basic bootstrap
(2 value - quantiles) would subtract that artefact as if it were the estimator's bias and land
below it. Centring keeps the replicates' spread, which is what the bootstrap estimates well, and
places it on the observed value, so the interval always contains its point estimate (guaranteed
by construction: the bounds are clipped to include it). Coverage of these intervals is checked by
simulation in tests/metrics/test_coverage.py.

References:
    M. J. Chong, D. Forsyth. Effectively unbiased FID and Inception score and where to find them.
    CVPR 2020 (FD-infinity: FID is linear in 1/N; extrapolate to 1/N = 0).
    B. Efron, R. Tibshirani. An introduction to the bootstrap. 1993 (percentile and basic intervals).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

DEFAULT_FLOOR_SPLITS: Final[int] = 5
"""Random real-vs-real splits each floor is averaged over."""


def centred_interval(value: float, replicates: np.ndarray, *, alpha: float = 0.05,
                     scale: float = 1.0) -> tuple[float, float] | None:
    """Return ``value + scale * quantiles(replicates - mean)``, clipped to contain `value`.

    Args:
        value: the point estimate.
        replicates: float [B] bootstrap replicates (non-finite ones are dropped).
        alpha: 1 - confidence level.
        scale: multiplies the deviations (m-out-of-n bootstrap: sqrt(m / n)).

    Returns None when fewer than 2 finite replicates are left.
    """
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2 or not math.isfinite(value):
        return None
    lo, hi = np.quantile(r - r.mean(), [alpha / 2, 1 - alpha / 2]) * scale
    return float(min(value, value + lo)), float(max(value, value + hi))


def bootstrap_ci(
    values: np.ndarray | None = None,
    *,
    statistic: Callable[[np.ndarray], float] | None = None,
    n: int | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """Return the centred bootstrap interval of a statistic of one sample (see the module docstring).

    Either pass `values` (the mean of a resample is the statistic; for a mean the centred and the
    percentile intervals agree up to the replicates' mean) or `statistic` and `n`:
    `statistic(indices)` receives int64 indices in [0, n) drawn with replacement, and
    ``statistic(arange(n))`` is the point estimate.

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
        if n_bootstrap <= 0 or n < 2:
            return None
        rng = np.random.default_rng(seed)
        # One [B, n] draw: the means of all replicates in one vectorised step.
        idx = rng.integers(0, n, size=(n_bootstrap, n))
        return centred_interval(float(v.mean()), v[idx].mean(1), alpha=alpha)
    if statistic is None or n is None:
        raise ValueError("pass values, or statistic and n")
    if n_bootstrap <= 0 or n < 2:
        return None
    rng = np.random.default_rng(seed)
    reps = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_bootstrap)], dtype=np.float64)
    return centred_interval(float(statistic(np.arange(n))), reps, alpha=alpha)


def two_sample_bootstrap(statistic: Callable[[np.ndarray, np.ndarray], float], n_a: int, n_b: int, *,
                         value: float, n_bootstrap: int, seed: int, alpha: float = 0.05,
                         m_a: int | None = None, m_b: int | None = None) -> tuple[float, float] | None:
    """Return the centred interval of a statistic of two independent samples, both resampled.

    Args:
        statistic: function of (indices into a, indices into b), drawn with replacement.
        n_a, n_b: sample sizes.
        value: the point estimate.
        n_bootstrap: replicates (0 = no interval).
        seed: seeds the index draws.
        m_a, m_b: resample sizes (default n_a, n_b). Smaller ones make an m-out-of-n bootstrap:
            the deviations are scaled by sqrt(min(m) / min(n)) (valid for sqrt(n)-rate statistics,
            conservative for faster ones).
    """
    if n_bootstrap <= 0 or min(n_a, n_b) < 2:
        return None
    m_a, m_b = m_a or n_a, m_b or n_b
    rng = np.random.default_rng(seed)
    reps = np.array([statistic(rng.integers(0, n_a, size=m_a), rng.integers(0, n_b, size=m_b))
                     for _ in range(n_bootstrap)], dtype=np.float64)
    scale = math.sqrt(min(m_a, m_b) / min(n_a, n_b))
    return centred_interval(value, reps, alpha=alpha, scale=scale)


@dataclass(frozen=True)
class FloorEstimate:
    """A real-vs-real floor measured over several matched-size splits.

    Attributes:
        mean: the floor (mean over splits).
        sd: standard deviation over splits (0 with one split).
        size: images in each of the two disjoint real subsets.
        n_splits: splits averaged.
    """

    mean: float
    sd: float
    size: int
    n_splits: int


def floor_size(n_real: int, n_fake: int) -> int:
    """Return the subset size of a matched floor: `n_fake`, or floor(n_real / 2) when the reals are too few."""
    return max(0, min(int(n_fake), int(n_real) // 2))


def matched_splits(n_real: int, n_fake: int, *, n_splits: int = DEFAULT_FLOOR_SPLITS,
                   seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return `n_splits` pairs of disjoint sorted index arrays into [0, n_real), each of `floor_size` items.

    Every split is a fresh seeded permutation (empty list when the floor size is 0).
    """
    size = floor_size(n_real, n_fake)
    if size < 1 or n_splits < 1:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(n_real)
        out.append((np.sort(perm[:size]), np.sort(perm[size:2 * size])))
    return out


def matched_subsets(n_real: int, n_fake: int, size: int, *, draws: int,
                    rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return `draws` (at least 1) pairs of sorted index arrays: `size` real and `size` generated items
    each, drawn without replacement (the sets a value is recomputed on at a floor's size)."""
    return [(np.sort(rng.choice(n_real, size, replace=False)), np.sort(rng.choice(n_fake, size, replace=False)))
            for _ in range(max(1, draws))]


def summarise_floor(values: Sequence[float], size: int) -> FloorEstimate | None:
    """Return the floor of per-split values (None when no split gave a finite value)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return None
    return FloorEstimate(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(size), int(v.size))


def matched_floor(fn: Callable[[np.ndarray, np.ndarray], dict[str, float]], n_real: int, n_fake: int, *,
                  seed: int, n_splits: int = DEFAULT_FLOOR_SPLITS) -> dict[str, FloorEstimate]:
    """Return, per key of `fn`'s result, the floor over matched splits of the real set.

    Args:
        fn: (indices of subset A, indices of subset B) -> {key: value} between the two real subsets.
        n_real: real images available; n_fake: the generated set's size (the target subset size).
        seed: seeds the splits.
        n_splits: splits averaged.
    """
    splits = matched_splits(n_real, n_fake, n_splits=n_splits, seed=seed)
    per_key: dict[str, list[float]] = {}
    for a, b in splits:
        for k, v in fn(a, b).items():
            per_key.setdefault(k, []).append(v)
    size = floor_size(n_real, n_fake)
    out = {}
    for k, vals in per_key.items():
        est = summarise_floor(vals, size)
        if est is not None:
            out[k] = est
    return out


def fd_infinity_fractions(n_min: int, dim: int, *, n_points: int = 8, min_size: int = 32) -> np.ndarray | None:
    """Return the subset fractions t (both sets shrunk to t x their size) of an FD-infinity fit, or None.

    Fractions run from 1/4 to 1, evenly spaced in 1/t, as Chong & Forsyth spread their N evenly
    between 5k and 50k. The fit needs the smallest subset (t = 1/4 of the smaller set, `n_min`) to
    hold at least max(`min_size`, 2 x `dim`) samples: nearer to the dimension, the bias of the
    Fréchet distance is no longer linear in 1/N. None means "N does not allow it".
    """
    if n_min // 4 < max(min_size, 2 * dim):
        return None
    return 1.0 / np.linspace(4.0, 1.0, n_points)


def fd_infinity_requirement(dim: int, *, min_size: int = 32) -> int:
    """Return the smallest set size for which `fd_infinity_fractions` gives a fit."""
    return 4 * max(min_size, 2 * dim)


def extrapolate_to_infinity(sizes: np.ndarray, values: np.ndarray) -> float:
    """Return the intercept at 1/N = 0 of the least-squares line of `values` against 1/`sizes`."""
    x = 1.0 / np.asarray(sizes, dtype=np.float64)
    slope, intercept = np.polyfit(x, np.asarray(values, dtype=np.float64), 1)
    return float(intercept)
