"""Area under the ROC curve and its stratified bootstrap interval (shared by C2ST and the reader study).

AUC is the Mann-Whitney probability that a positive item scores above a negative one, ties
counting one half; it is computed from mid-ranks in O(n log n).
"""

from __future__ import annotations

import numpy as np


def mid_ranks(values: np.ndarray) -> np.ndarray:
    """Return the 1-based ranks of `values` [n], tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return ((last - counts + 1 + last) / 2.0)[inverse]


def compute_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the ROC AUC of `scores` for binary `labels` (1 = positive), ties counted as 1/2.

    Args:
        scores: float [n]; higher means "more likely positive".
        labels: [n] of 0/1 (or bool).

    Raises:
        ValueError: shapes differ, or one class is empty.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of one length, got {s.shape} and {y.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes (got {n_pos} positive, {n_neg} negative)")
    ranks = mid_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auc_ci(scores: np.ndarray, labels: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0,
                     alpha: float = 0.05, groups: np.ndarray | None = None) -> tuple[float, float] | None:
    """Return the (alpha/2, 1 - alpha/2) percentile interval of the AUC, resampling within each class.

    Args:
        scores, labels: as for `compute_auc`.
        n_bootstrap: replicates (0 = no interval).
        seed: seeds the numpy Generator.
        alpha: 1 - confidence level.
        groups: optional int [n] cluster ids (e.g. the image an answer is about): whole clusters
            are resampled, within each class, so repeated ratings of one item are not counted as
            independent evidence.

    Returns None when an interval cannot be formed (no replicates, or a class with one item).

    A replicate is a vector of how often each cluster is drawn, so its AUC is
    ``c_pos @ Hc @ c_neg / (c_pos @ size_pos * c_neg @ size_neg)`` where ``Hc`` sums
    ``[s_i > s_j] + [s_i = s_j] / 2`` over the positive items i of one cluster and the negative
    items j of another: all replicates cost a few matrix products.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if n_bootstrap <= 0 or y.sum() < 2 or (~y).sum() < 2:
        return None
    rng = np.random.default_rng(seed)
    g = np.arange(s.shape[0]) if groups is None else np.asarray(groups)
    pos, neg = s[y], s[~y]
    h = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    (cp, mp), (cn, mn) = (_cluster_draws(g[y == c], n_bootstrap, rng) for c in (True, False))
    hc = mp.T @ h @ mn  # pair wins summed per (positive cluster, negative cluster)
    stats = np.einsum("bk,kl,bl->b", cp, hc, cn, optimize=True) / ((cp @ mp.sum(0)) * (cn @ mn.sum(0)))
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _cluster_draws(groups: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (float [n_bootstrap, k]: how often each of the k clusters is drawn with replacement,
    float [n, k]: which cluster each item belongs to)."""
    clusters, member_of = np.unique(groups, return_inverse=True)
    k = clusters.shape[0]
    draws = rng.integers(0, k, size=(n_bootstrap, k))
    counts = np.zeros((n_bootstrap, k))
    np.add.at(counts, (np.arange(n_bootstrap)[:, None], draws), 1.0)
    return counts, np.eye(k)[member_of]
