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
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if n_bootstrap <= 0 or y.sum() < 2 or (~y).sum() < 2:
        return None
    rng = np.random.default_rng(seed)
    g = np.arange(s.shape[0]) if groups is None else np.asarray(groups)
    members = {c: [np.flatnonzero((g == k) & (y == c)) for k in np.unique(g[y == c])] for c in (True, False)}
    stats = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        idx = np.concatenate([members[c][i] for c in (True, False)
                              for i in rng.integers(0, len(members[c]), size=len(members[c]))])
        stats[b] = compute_auc(s[idx], y[idx])
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
