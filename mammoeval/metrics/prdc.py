"""Precision and recall of distributions (k-NN manifolds) and density and coverage.

Precision: fraction of generated samples inside the real manifold (the union of balls around
each real sample with radius its k-th nearest real neighbour distance); recall: fraction of real
samples inside the generated manifold (Kynkäänniemi et al. 2019, k = 3). Density: how many real
balls contain each generated sample, divided by k, averaged; coverage: fraction of real samples
whose ball contains at least one generated sample (Naeem et al. 2020, k = 5 as recommended there).
Distances are Euclidean; "inside a ball" is strictly closer than its radius (as the reference
code of Naeem et al.); they are computed in chunks so memory stays at chunk x N floats.

Set sizes: all four depend on how many samples define the manifolds (coverage of N real balls by M
generated samples falls as N grows past M), so `compute_prdc` uses equal-size sets: the larger set
is subsampled to the smaller one's size, averaged over `repeats` seeded subsamples, and the
real-vs-real floor is measured between disjoint real subsets of that size (uncertainty.py).

Interval: subsampling of both sets (`_prdc_intervals`): replicates draw 60 % of each set without
replacement. A with-replacement bootstrap duplicates points, and duplicates distort every k-NN
radius (a copy is its own nearest neighbour; skipping copies still leaves duplicated neighbours,
which shrink radii): simulated, its intervals covered 97-100 % instead of 95 %. The interval is
centred on the observed value (uncertainty.py).

References:
    T. Kynkäänniemi et al. Improved precision and recall metric for assessing generative models.
    NeurIPS 2019.
    M. F. Naeem et al. Reliable fidelity and diversity metrics for generative models. ICML 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mammoeval.metrics.base import MetricResult
from mammoeval.metrics.uncertainty import centred_interval, matched_floor


@dataclass(frozen=True)
class PRDCIndicators:
    """Per-sample values whose means are the four metrics.

    Attributes:
        precision: float [M] 1 where generated sample i is inside the real manifold.
        recall: float [N] 1 where real sample j is inside the generated manifold.
        density: float [M] number of real balls containing generated sample i, divided by k_dc.
        coverage: float [N] 1 where real sample j's ball contains a generated sample.
    """

    precision: torch.Tensor
    recall: torch.Tensor
    density: torch.Tensor
    coverage: torch.Tensor


def knn_radii(x: torch.Tensor, k: int, *, chunk: int = 1024) -> torch.Tensor:
    """Return the distance [N] from each row of x [N, D] to its k-th nearest other row."""
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples, got {x.shape[0]}")
    out = []
    for s in range(0, x.shape[0], chunk):
        d = torch.cdist(x[s:s + chunk], x)
        # the point itself is at distance 0 and is the first of the k+1 smallest
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, *, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (count of balls containing each point [P], nearest centre distance [P])."""
    counts, nearest = [], []
    for s in range(0, points.shape[0], chunk):
        d = torch.cdist(points[s:s + chunk], centres)
        counts.append((d < radii[None]).sum(1))
        nearest.append(d.min(1).values)
    return torch.cat(counts), torch.cat(nearest)


def compute_prdc_indicators(real: torch.Tensor, fake: torch.Tensor, *, k_pr: int = 3, k_dc: int = 5,
                            chunk: int = 1024) -> PRDCIndicators:
    """Return the per-sample indicators of precision, recall, density and coverage.

    Args:
        real: float [N, D] real features; fake: float [M, D] generated features (same space).
        k_pr: neighbours for the precision/recall manifolds; k_dc: for density/coverage.
    """
    real, fake = real.double(), fake.double()
    r_pr, f_pr = knn_radii(real, k_pr, chunk=chunk), knn_radii(fake, k_pr, chunk=chunk)
    r_dc = knn_radii(real, k_dc, chunk=chunk) if k_dc != k_pr else r_pr
    in_real_pr, _ = _inside(fake, real, r_pr, chunk=chunk)
    in_fake_pr, _ = _inside(real, fake, f_pr, chunk=chunk)
    in_real_dc, _ = _inside(fake, real, r_dc, chunk=chunk)
    # coverage: real j's ball (radius r_dc[j]) holds a generated sample <=> nearest fake within r_dc[j]
    nearest_fake = torch.cat([torch.cdist(real[s:s + chunk], fake).min(1).values for s in range(0, real.shape[0], chunk)])
    return PRDCIndicators(
        precision=(in_real_pr > 0).double(),
        recall=(in_fake_pr > 0).double(),
        density=in_real_dc.double() / k_dc,
        coverage=(nearest_fake < r_dc).double(),
    )


PRDC_KEYS = ("precision", "recall", "density", "coverage")
HALF_SAMPLE_FRACTION = 0.6
"""Share of each set a PRDC interval replicate keeps (without replacement). Simulated on shifted and
scaled Gaussians (tests/metrics/test_coverage.py), 95 % intervals covered precision/recall/density/
coverage 0.955/0.93/0.975/0.82 at 0.5, 0.96/0.945/0.975/0.94 at 0.6 and 0.99/0.995/0.975/0.945 at 0.75:
coverage (of reals by generated samples) needs the larger share, precision and recall a smaller one."""


def _kth_other(d: torch.Tensor, k: int) -> torch.Tensor:
    """Return the k-th smallest entry per row of d [..., n, n] off the diagonal (the k-th nearest other sample)."""
    eye = torch.eye(d.shape[-1], dtype=torch.bool, device=d.device)
    return d.masked_fill(eye, float("inf")).kthvalue(k, dim=-1).values


def prdc_from_distances(d_rr: torch.Tensor, d_ff: torch.Tensor, d_rf: torch.Tensor, *, k_pr: int = 3,
                        k_dc: int = 5) -> dict[str, float]:
    """Return precision, recall, density and coverage from pairwise distances of distinct samples.

    Args:
        d_rr: [N, N] real-real, d_ff: [M, M] generated-generated, d_rf: [N, M] real-generated distances.
        k_pr, k_dc: neighbours of the precision/recall and the density/coverage radii.
    """
    return {k: float(v[0]) for k, v in batched_prdc(d_rr[None], d_ff[None], d_rf[None], k_pr=k_pr, k_dc=k_dc).items()}


def batched_prdc(d_rr: torch.Tensor, d_ff: torch.Tensor, d_rf: torch.Tensor, *, k_pr: int = 3,
                 k_dc: int = 5) -> dict[str, torch.Tensor]:
    """Return float64 [B] precision, recall, density and coverage of B problems at once.

    Args:
        d_rr: [B, N, N], d_ff: [B, M, M], d_rf: [B, N, M] distances (real-real, generated-generated, real-generated).
    """
    r_pr = _kth_other(d_rr, k_pr)
    f_pr = _kth_other(d_ff, k_pr)
    r_dc = r_pr if k_dc == k_pr else _kth_other(d_rr, k_dc)
    return {"precision": (d_rf < r_pr[:, :, None]).any(1).double().mean(1),
            "recall": (d_rf < f_pr[:, None, :]).any(2).double().mean(1),
            "density": (d_rf < r_dc[:, :, None]).sum(1).double().mean(1) / k_dc,
            "coverage": (d_rf.min(2).values < r_dc).double().mean(1)}


def pairwise(a: torch.Tensor, b: torch.Tensor, *, chunk: int = 1024) -> torch.Tensor:
    """Return the Euclidean distances [len(a), len(b)] (float64 arithmetic, computed in row chunks)."""
    a, b = a.double(), b.double()
    return torch.cat([torch.cdist(a[s:s + chunk], b) for s in range(0, a.shape[0], chunk)])


def _draw(n: int, m: int, rng: np.random.Generator) -> torch.Tensor:
    """Return m sorted distinct indices into [0, n) (all of them when m == n)."""
    if m >= n:
        return torch.arange(n)
    return torch.from_numpy(np.sort(rng.choice(n, size=m, replace=False)))


def compute_prdc(real: torch.Tensor, fake: torch.Tensor, *, k_pr: int = 3, k_dc: int = 5, repeats: int = 5,
                 floor_splits: int = 5, n_bootstrap: int = 200, max_bootstrap: int = 512,
                 max_pool: int = 10000, seed: int = 0) -> dict[str, MetricResult]:
    """Return precision, recall, density and coverage on equal-size sets, with floors and intervals.

    The value: the larger set subsampled to the smaller one's size m, averaged over `repeats`
    seeded subsamples (one when the sizes are equal). The floor: the same between two disjoint real
    subsets of m samples (fewer when the real set holds under 2m), over `floor_splits` splits. The
    interval: `_prdc_intervals` (subsampling without replacement). When the floor had to use fewer
    than m reals, `matched_value` holds the values at the floor's size (for the ratio).

    Args:
        real: float [N, D] and fake: float [M, D] features of one space; N, M > max(k_pr, k_dc).
        max_pool: at most this many samples of each set enter (seeded uniform subset above it);
            distance matrices are pool x pool.
        seed: seeds every draw.

    Raises:
        ValueError: a set has no more than max(k_pr, k_dc) samples.
    """
    need = max(k_pr, k_dc) + 1
    if real.shape[0] < need or fake.shape[0] < need:
        raise ValueError(f"PRDC needs at least {need} samples per set, got {real.shape[0]} and {fake.shape[0]}")
    rng = np.random.default_rng(seed)
    m = min(real.shape[0], fake.shape[0], max_pool)
    # Reals beyond 4 m add little to an m-sample estimate; the pool bounds the distance matrices.
    pool_r = real[_draw(real.shape[0], min(real.shape[0], 4 * m, max_pool), rng)]
    pool_f = fake[_draw(fake.shape[0], min(fake.shape[0], max_pool), rng)]
    d_rr, d_ff, d_rf = pairwise(pool_r, pool_r), pairwise(pool_f, pool_f), pairwise(pool_r, pool_f)
    nr, nf = pool_r.shape[0], pool_f.shape[0]

    def on(ir: torch.Tensor, jf: torch.Tensor) -> dict[str, float]:
        return prdc_from_distances(d_rr[ir][:, ir], d_ff[jf][:, jf], d_rf[ir][:, jf], k_pr=k_pr, k_dc=k_dc)

    draws = [on(_draw(nr, m, rng), _draw(nf, m, rng)) for _ in range(1 if nr == nf == m else max(1, repeats))]
    value = {k: float(np.mean([d[k] for d in draws])) for k in PRDC_KEYS}

    def floor_fn(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        if min(len(a), len(b)) < need:
            return {}
        ia, ib = torch.from_numpy(a), torch.from_numpy(b)
        return prdc_from_distances(d_rr[ia][:, ia], d_rr[ib][:, ib], d_rr[ia][:, ib], k_pr=k_pr, k_dc=k_dc)

    floors = matched_floor(floor_fn, nr, m, seed=int(rng.integers(1 << 62)), n_splits=floor_splits)
    matched: dict[str, float] = {}
    fs = next(iter(floors.values())).size if floors else m
    if fs < m:  # too few reals for a floor at m: the value at the floor's size too, for the ratio
        at_fs = [on(_draw(nr, fs, rng), _draw(nf, fs, rng)) for _ in range(max(1, floor_splits))]
        matched = {k: float(np.mean([d[k] for d in at_fs])) for k in PRDC_KEYS}
    cis = _prdc_intervals(d_rr, d_ff, d_rf, value, m=m, k_pr=k_pr, k_dc=k_dc, n_bootstrap=n_bootstrap,
                          max_bootstrap=max_bootstrap, seed=int(rng.integers(1 << 62)))
    return {k: MetricResult(value[k], cis.get(k), None, real.shape[0], fake.shape[0],
                            matched_value=matched.get(k)).with_floor(floors.get(k)) for k in PRDC_KEYS}


def _prdc_intervals(d_rr: torch.Tensor, d_ff: torch.Tensor, d_rf: torch.Tensor, value: dict[str, float], *, m: int,
                    k_pr: int, k_dc: int, n_bootstrap: int, max_bootstrap: int,
                    seed: int) -> dict[str, tuple[float, float]]:
    """Return the centred subsampling interval of each PRDC value.

    Each replicate takes h = min(`HALF_SAMPLE_FRACTION` x m, `max_bootstrap`) distinct samples of
    each set without replacement (no duplicates, so every k-NN radius stays a distance between
    distinct samples). For a smooth statistic of n samples, a subsample of a fraction f deviates
    from the full-sample value with variance (1 - f) / f times the full sample's; the deviations are
    scaled by sqrt(f / (1 - f)) (1 at f = 1/2: McCarthy's half-sampling) and placed on the value
    (uncertainty.centred_interval).
    """
    if n_bootstrap <= 0 or m < 4:
        return {}
    rng = np.random.default_rng(seed)
    h = max(2, min(round(HALF_SAMPLE_FRACTION * m), max_bootstrap))
    if h <= max(k_pr, k_dc):
        return {}
    f = h / m
    ir = torch.from_numpy(np.sort(rng.random((n_bootstrap, d_rr.shape[0])).argsort(1)[:, :h], axis=1))
    jf = torch.from_numpy(np.sort(rng.random((n_bootstrap, d_ff.shape[0])).argsort(1)[:, :h], axis=1))
    per = max(1, (1 << 24) // (3 * h * h))  # replicates per batch: about 400 MB of distances at most
    parts = []
    for s0 in range(0, n_bootstrap, per):
        i, j = ir[s0:s0 + per], jf[s0:s0 + per]
        parts.append(batched_prdc(_take(d_rr, i, i), _take(d_ff, j, j), _take(d_rf, i, j), k_pr=k_pr, k_dc=k_dc))
    reps = {k: torch.cat([p[k] for p in parts]).numpy() for k in PRDC_KEYS}
    out = {}
    for k in PRDC_KEYS:
        ci = centred_interval(value[k], reps[k], scale=math.sqrt(f / (1 - f)))
        if ci is not None:
            # precision, recall and coverage are fractions: the interval stays in [0, 1] (density may exceed 1)
            out[k] = (max(ci[0], 0.0), ci[1] if k == "density" else min(ci[1], 1.0))
    return out


def _take(d: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Return [B, r, c] sub-matrices d[rows[b]][:, cols[b]] of d [N, M] for index rows [B, r] and cols [B, c]."""
    return d[rows[:, :, None], cols[:, None, :]]
