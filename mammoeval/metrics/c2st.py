"""Classifier two-sample test (C2ST): how well a small classifier tells generated from real images.

Method (Lopez-Paz & Oquab 2017): per view, each image is described by its offline features
(offline.py, 70-d), a ridge-regularised logistic regression is trained to separate real from
generated on k - 1 folds and scores the held-out fold (stratified k-fold, repeated with
`n_repeats` seeded partitions; an image's score is its mean held-out probability). The result
is the ROC AUC of these held-out scores with generated as the positive class:

- 0.5: the classifier cannot tell the sets apart (what a perfect generator gives);
- 1.0: every generated image is recognised; values below 0.5 are chance fluctuations.

Interval: from half-samples, each trained and tested anew (`half_sample_ci`), so it carries the
classifier's own variability, which a bootstrap of fixed held-out scores misses. Floor: the same test between two seeded disjoint halves of the real set (about
0.5; what "as indistinguishable as real data" looks like for this sample size).

Everything is deterministic under `seed`: the kept samples, the fold partitions, the bootstrap.
Each fold z-scores the features with its training images' statistics and keeps their leading
principal components, at most one per `samples_per_dim` training images (`fold_projection`).

References:
    D. Lopez-Paz, M. Oquab. Revisiting classifier two-sample tests. ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from mammoeval.core.seeding import Stream, numpy_rng, stream_seed
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import (
    MetricResult,
    PrioritySample,
    SampledSets,
    ViewResults,
    sample_keys,
    too_few_reason,
    view_masks,
)
from mammoeval.metrics.keys import KEY_C2ST_AUC
from mammoeval.metrics.roc import compute_auc
from mammoeval.metrics.uncertainty import (
    DEFAULT_FLOOR_SPLITS,
    floor_size,
    matched_splits,
    matched_subsets,
    summarise_floor,
)

MIN_PER_SET: Final = 4
"""A view needs at least this many real and generated images (two per fold side at k = 2)."""
MAX_HALF_SAMPLES: Final = 20
"""Half-sample replicates of the interval at most (each reruns the cross-validation)."""


@dataclass(frozen=True)
class C2STSettings:
    """Settings of the classifier two-sample test.

    Attributes:
        seed: seeds the kept samples, fold partitions and bootstrap.
        n_folds: k of the stratified k-fold (reduced to the smaller set's size when needed).
        n_repeats: independent fold partitions averaged per image.
        l2: ridge penalty on the weights of the whitened components (the intercept is free).
        samples_per_dim: training images per principal component the classifier may use.
        max_items: images kept per set (seeded uniform subset above it).
        n_bootstrap: interval replicates (0 = none; at most MAX_HALF_SAMPLES are used).
        floor_splits: real-vs-real splits the floor is averaged over (and draws of the matched value).
    """

    seed: int = 0
    n_folds: int = 5
    n_repeats: int = 3
    l2: float = 1.0
    samples_per_dim: int = 10
    max_items: int = 2000
    n_bootstrap: int = 200
    floor_splits: int = DEFAULT_FLOOR_SPLITS


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float, n_iter: int = 50) -> tuple[np.ndarray, float]:
    """Return (weights [D], intercept) of an L2-penalised logistic regression fitted by Newton's method.

    Minimises sum log(1 + exp(-s_i (w.x_i + b))) + l2/2 |w|^2 (s_i = +-1); deterministic.

    Args:
        x: float [n, D]; y: [n] in {0, 1}.
    """
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-8  # the intercept is not penalised (a tiny term keeps the Hessian invertible)
    for _ in range(n_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(xa @ theta, -30, 30)))
        grad = xa.T @ (p - y) + reg * theta
        hess = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return int [n] fold ids in [0, k): each class is shuffled and dealt round-robin over the folds."""
    folds = np.empty(y.shape[0], dtype=np.int64)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        folds[rng.permutation(idx)] = np.arange(idx.shape[0]) % k
    return folds


def fold_projection(train: np.ndarray, settings: C2STSettings) -> Callable[[np.ndarray], np.ndarray]:
    """Return the map a fold's classifier sees: z-scoring by the training fold, then its leading
    principal components (at most n_train / `samples_per_dim` of them, at least 2), whitened.

    Few components for few images keep a linear classifier from fitting noise (its held-out AUC
    would swing far from 0.5 between equal sets); with enough images every dimension is kept.
    """
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (train - mu) / sd
    k = int(min(z.shape[1], max(2, z.shape[0] // settings.samples_per_dim)))
    evals, evecs = np.linalg.eigh(z.T @ z / max(1, z.shape[0] - 1))  # ascending
    top = np.argsort(evals)[::-1][:k]
    basis = evecs[:, top] / np.sqrt(np.where(evals[top] > 1e-12, evals[top], 1.0))

    def project(x: np.ndarray) -> np.ndarray:
        return ((x - mu) / sd) @ basis

    return project


def held_out_scores(a: np.ndarray, b: np.ndarray, settings: C2STSettings, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (held-out probability of "b" per item [na + nb], labels) for sets a (label 0) and b (label 1)."""
    x = np.vstack([a, b]).astype(np.float64)
    y = np.concatenate([np.zeros(a.shape[0]), np.ones(b.shape[0])])
    k = int(min(settings.n_folds, a.shape[0], b.shape[0]))
    rng = np.random.default_rng(seed)
    total = np.zeros(y.shape[0])
    for _ in range(settings.n_repeats):
        folds = stratified_folds(y, k, rng)
        for f in range(k):
            test = folds == f
            project = fold_projection(x[~test], settings)
            w, c = fit_logistic(project(x[~test]), y[~test], l2=settings.l2)
            total[test] += 1.0 / (1.0 + np.exp(-np.clip(project(x[test]) @ w + c, -30, 30)))
    return total / settings.n_repeats, y


def compute_c2st(real: np.ndarray, fake: np.ndarray, settings: C2STSettings = C2STSettings(), *,
                 view_index: int = 0) -> MetricResult:
    """Return the C2ST AUC of features `fake` [m, D] against `real` [n, D], its interval and real-vs-real floor.

    The folds, half-samples and floor split draw from the C2ST streams of `settings.seed`, item
    `view_index` (`mammoeval.core.seeding`).

    Raises:
        ValueError: fewer than MIN_PER_SET items in a set.
    """
    if min(real.shape[0], fake.shape[0]) < MIN_PER_SET:
        raise ValueError(f"C2ST needs at least {MIN_PER_SET} images per set (got {real.shape[0]} real, "
                         f"{fake.shape[0]} generated)")
    # Small matrices: BLAS threads only contend (on a busy machine a 400x70 product then takes 100x longer).
    with threadpool_limits(limits=1, user_api="blas"):
        return _compute_c2st(real, fake, settings, view_index)


def _compute_c2st(real: np.ndarray, fake: np.ndarray, settings: C2STSettings, vi: int) -> MetricResult:
    s = settings.seed
    scores, y = held_out_scores(real, fake, settings, seed=stream_seed(s, Stream.C2ST_FOLDS, vi))
    auc = compute_auc(scores, y)
    ci = half_sample_ci(real, fake, auc, settings, seed=stream_seed(s, Stream.C2ST_HALF_SAMPLES, vi))
    n_r, n_f = int(real.shape[0]), int(fake.shape[0])

    def held_out_auc(a: np.ndarray, b: np.ndarray, stream: Stream, k: int) -> float:
        sc, yy = held_out_scores(a, b, settings, seed=stream_seed(s, stream, vi, k))
        return compute_auc(sc, yy)

    # Floor: real vs real between disjoint subsets of the generated set's size (uncertainty.floor_size).
    splits = matched_splits(n_r, n_f, n_splits=settings.floor_splits, seed=stream_seed(s, Stream.C2ST_FLOOR_SPLIT, vi))
    floor = summarise_floor([held_out_auc(real[a], real[b], Stream.C2ST_FLOOR_FOLDS, k)
                             for k, (a, b) in enumerate(splits) if min(len(a), len(b)) >= MIN_PER_SET],
                            floor_size(n_r, n_f))
    matched = None
    if floor is not None and (n_r, n_f) != (floor.size, floor.size):  # like with like: the AUC at the floor's size
        rng = numpy_rng(s, Stream.C2ST_MATCHED, vi)
        subsets = matched_subsets(n_r, n_f, floor.size, draws=settings.floor_splits, rng=rng)
        matched = float(np.mean([held_out_auc(real[a], fake[b], Stream.C2ST_MATCHED_FOLDS, k)
                                 for k, (a, b) in enumerate(subsets)]))
    return MetricResult(auc, ci, None, n_r, n_f, matched_value=matched).with_floor(floor)


def half_sample_ci(real: np.ndarray, fake: np.ndarray, auc: float, settings: C2STSettings, *,
                   seed: int) -> tuple[float, float] | None:
    """Return a 95 % interval of the C2ST AUC from half-samples that are each trained and tested anew.

    A bootstrap of the held-out scores alone would miss how much the classifier itself varies
    with the training images; here each of `min(n_bootstrap, MAX_HALF_SAMPLES)` replicates draws
    half of each set without replacement and reruns the whole cross-validation. The AUC's
    variance scales as 1 / n, so the full-sample standard error is the replicates' standard
    deviation / sqrt(2); the interval is AUC +- 1.96 of it, clipped to [0, 1]. None when
    `n_bootstrap` is 0 or a half would hold fewer than MIN_PER_SET / 2 images.
    """
    n_half = min(settings.n_bootstrap, MAX_HALF_SAMPLES)
    hr, hf = real.shape[0] // 2, fake.shape[0] // 2
    if n_half < 2 or min(hr, hf) < MIN_PER_SET // 2:
        return None
    rng = np.random.default_rng(seed)
    one = C2STSettings(**{**asdict(settings), "n_repeats": 1})
    aucs = []
    for _ in range(n_half):
        ia, ib = rng.choice(real.shape[0], hr, replace=False), rng.choice(fake.shape[0], hf, replace=False)
        sc, yy = held_out_scores(real[ia], fake[ib], one, seed=int(rng.integers(1 << 62)))
        aucs.append(compute_auc(sc, yy))
    se = float(np.std(aucs, ddof=1)) / np.sqrt(2.0)
    return max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)


class C2STMetric(SampledSets):
    """Streaming C2ST over a feature extractor (the offline space), per view; key `c2st_auc`."""

    name = "c2st"

    def __init__(self, extractor: Any, settings: C2STSettings = C2STSettings()) -> None:
        self.extractor = extractor
        self.cfg = settings
        self.reset()

    def reset(self) -> None:
        """Forget every image seen."""
        self._sets = {True: PrioritySample(self.cfg.max_items), False: PrioritySample(self.cfg.max_items)}

    def settings(self) -> dict[str, Any]:
        """Return what changes the real-side state: sampling settings and the extractor."""
        return {"max_items": self.cfg.max_items, "seed": self.cfg.seed, "extractor": self.extractor.name,
                "weights": self.extractor.weights_hash}

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Extract and keep the features of a batch."""
        st = self._sets[real]
        feats = self.extractor.extract(batch.images)
        stream = Stream.C2ST_SAMPLE_REAL if real else Stream.C2ST_SAMPLE_FAKE
        keys = sample_keys(self.cfg.seed, stream, st.n_seen, feats.shape[0])
        st.add({"feats": feats.cpu(), "views": batch.views.cpu().to(torch.int64)}, keys)

    def _features(self, real: bool, view: str) -> np.ndarray:
        st = self._sets[real]
        if len(st) == 0:
            return np.empty((0, 0))
        return st.get("feats")[view_masks(st.get("views"))[view]].double().numpy()

    def unavailable(self) -> dict[str, str]:
        """Return ``{"c2st_auc/<view>": reason}`` for views with too few images."""
        return self._too_few(KEY_C2ST_AUC, minimum=MIN_PER_SET)

    def compute(self) -> ViewResults:
        """Return ``{view: {"c2st_auc": MetricResult}}``."""
        def one(view: str, index: int) -> dict[str, MetricResult] | None:
            real, fake = self._features(True, view), self._features(False, view)
            if too_few_reason(real.shape[0], fake.shape[0], minimum=MIN_PER_SET):
                return None
            return {KEY_C2ST_AUC: compute_c2st(real, fake, self.cfg, view_index=index)}

        return self._per_view(one)


def c2st_settings_dict(settings: C2STSettings) -> dict[str, Any]:
    """Return the settings as a JSON-able dict."""
    return asdict(settings)
