"""Fréchet Radiomics Distance (FRD v1), per view, with a bootstrap interval and a real-vs-real floor.

Pure stages, as frd-score 1.0.1 computes its default (v1) number from two image folders:

1. features: `mammoeval.metrics.radiomics.extract_radiomics` per image (whole image, or the breast
   for ``frd_breast``);
2. `normalize_frd_v1`: images with any NaN feature are dropped, features are cast to float32 and
   z-scored with the REAL set's per-feature mean and standard deviation (population std, ddof 0);
   features that are then NaN or infinite in either set (constant in the real set) are dropped;
3. `compute_frd_squared`: the Fréchet distance between Gaussians fitted to the two normalised sets
   (unbiased covariances; `frechet_from_rows`: exact, in row space when there are fewer images
   than features, else `mammoeval.metrics.frechet.frechet_distance`);
4. `compute_frd`: FRD = ln(d^2) (frd-score's convention; the paper's ln(d) is half of it).

The number is a log: differences, not ratios, are meaningful (FRD_a - FRD_b = ln(d_a^2 / d_b^2));
it is negative when d^2 < 1. With fewer images than features (about 390 survive step 2) the
covariances are singular and FRD is biased upward, like FID; compare it with its floor.

Keys: ``frd`` (whole image, frd-score's definition: agrees with ``python -m frd_score A B`` on the
same PNG folders, tested) and ``frd_breast`` (the region is QA's breast mask, see regions.py, and
intensities are z-scored over the breast instead of the whole image, so the share of black
background moves neither; not comparable with published FRD values). Floor: the same number between two seeded disjoint halves
of the real set (the first half plays the reference). Interval: percentile bootstrap over the
generated images (real statistics fixed), at most `FRDSettings.n_bootstrap` replicates.

Caching: the real set's per-image features (not only its mean and covariance: the z-scoring and
the column filter depend on both sets) are the cached real state, keyed by content hash, the
feature settings and the PyRadiomics version (see cache.py).

References:
    N. Konz, R. Osuala et al. Fréchet Radiomic Distance (FRD): a versatile metric for comparing
    medical imaging datasets. Medical Image Analysis, 103943, 2026.
    R. Osuala et al. Towards learning contrast kinetics with multi-condition latent diffusion
    models. MICCAI 2024 (FRD v0).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import torch

from mammoeval.core.seeding import Stream, numpy_rng, stream_seed
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import (
    VIEW_NAMES,
    MetricResult,
    PrioritySample,
    SampledSets,
    ViewResults,
    sample_keys,
    too_few_reason,
    view_masks,
)
from mammoeval.metrics.frechet import frechet_distance
from mammoeval.metrics.radiomics import extract_radiomics, features_to_matrix, radiomics_version
from mammoeval.metrics.regions import BreastMasker, batch_breast_masks
from mammoeval.metrics.uncertainty import (
    DEFAULT_FLOOR_SPLITS,
    matched_floor,
    matched_subsets,
    two_sample_bootstrap,
)

FRDRegion = Literal["image", "breast"]
FRD_FEATURES_NAME: Final[str] = "radiomics-frd-v1"
FRD_REGIONS: Final[dict[str, FRDRegion]] = {"frd": "image", "frd_breast": "breast"}
"""Metric name -> the region its radiomics features are extracted from."""


def radiomics_key(region: FRDRegion) -> str:
    """Return the `ImageBatch.precomputed` key of one batch's per-image radiomics rows of `region`."""
    return f"radiomics/{FRD_FEATURES_NAME}/{region}"


def radiomics_regions(metrics: Iterable[str]) -> tuple[FRDRegion, ...]:
    """Return the radiomics regions the FRD metrics among `metrics` extract, in `FRD_REGIONS` order."""
    names = set(metrics)
    return tuple(r for name, r in FRD_REGIONS.items() if name in names)


def radiomics_rows(images: torch.Tensor, masks: torch.Tensor | None) -> list[dict[str, float]]:
    """Return the radiomics features of each image of float [N, 1, H, W] (a pure function of its arguments).

    With bool `masks` [N, 1, H, W] the features are of the masked region, intensities normalised over
    it; an image whose region is empty gets {} (dropped later, as frd-score drops NaN rows).
    """
    x = images.detach().to("cpu", torch.float32).numpy()[:, 0]
    ms: list[np.ndarray | None] = [None] * len(x) if masks is None else list(masks[:, 0].cpu().numpy())
    rows = []
    for im, m in zip(x, ms, strict=True):
        try:
            rows.append(extract_radiomics(im, m, normalize_in_region=m is not None))
        except ValueError:
            rows.append({})
    return rows


def normalize_frd_v1(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (real, fake) features normalised as FRD v1 does (see step 2 of the module docstring).

    Args:
        real, fake: float [n1, D] and [n2, D] raw radiomics features (NaN allowed).

    Returns:
        float32 [n1', D'] and [n2', D']: rows with NaN dropped, z-scored by the real rows,
        non-finite columns dropped.
    """
    r = np.asarray(real, dtype=np.float64)
    f = np.asarray(fake, dtype=np.float64)
    r = r[~np.isnan(r).any(1)].astype(np.float32)
    f = f[~np.isnan(f).any(1)].astype(np.float32)
    if r.shape[0] == 0:
        return r, f
    mean, std = r.mean(0), r.std(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rn, fn = (r - mean) / std, (f - mean) / std
    keep = np.isfinite(rn).all(0) & np.isfinite(fn).all(0)
    return rn[:, keep], fn[:, keep]


def frechet_from_rows(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Fréchet distance between Gaussians fitted to rows a [n1, D] and b [n2, D] (unbiased covariances).

    With fewer rows than dimensions it works in row space: with centred rows A and B,
    S1 S2 = A^T A B^T B / ((n1 - 1)(n2 - 1)) has the eigenvalues of (B A^T)(B A^T)^T, so
    tr sqrt(S1 S2) is the sum of the singular values of A B^T over sqrt((n1 - 1)(n2 - 1)): an
    n1 x n2 SVD instead of D x D eigen-decompositions. Otherwise `frechet.frechet_distance`.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    (n1, d), n2 = x.shape, y.shape[0]
    mu1, mu2 = x.mean(0), y.mean(0)
    xc, yc = x - mu1, y - mu2
    if min(n1, n2) > d:
        return frechet_distance(mu1, xc.T @ xc / (n1 - 1), mu2, yc.T @ yc / (n2 - 1))
    diff = mu1 - mu2
    tr1, tr2 = float((xc ** 2).sum()) / (n1 - 1), float((yc ** 2).sum()) / (n2 - 1)
    nuclear = float(np.linalg.svd(xc @ yc.T, compute_uv=False).sum()) / math.sqrt((n1 - 1) * (n2 - 1))
    return float(diff @ diff + tr1 + tr2 - 2 * nuclear)


def compute_frd_squared(real: np.ndarray, fake: np.ndarray) -> float:
    """Return the squared Fréchet distance d^2 between FRD v1-normalised real and generated features.

    Raises:
        ValueError: fewer than 2 usable images (no NaN feature) in a set, or no usable feature.
    """
    rn, fn = normalize_frd_v1(real, fake)
    if rn.shape[0] < 2 or fn.shape[0] < 2:
        raise ValueError(f"FRD needs at least 2 images per set with finite features, got {rn.shape[0]} and {fn.shape[0]}")
    if rn.shape[1] == 0:
        raise ValueError("FRD: no radiomics feature varies across the real images")
    return max(frechet_from_rows(rn, fn), 0.0)


def compute_frd(real: np.ndarray, fake: np.ndarray) -> float:
    """Return FRD v1 = ln(d^2) of raw radiomics features (-inf when d^2 is 0); see `compute_frd_squared`."""
    d2 = compute_frd_squared(real, fake)
    return math.log(d2) if d2 > 0 else -math.inf


@dataclass(frozen=True)
class FRDSettings:
    """FRD settings.

    Attributes:
        region: "image" (frd-score's definition) or "breast" (QA's breast mask).
        max_items: images kept per set (seeded uniform subset above it); extraction of every image
            still happens, so this bounds memory, not time.
        seed: seeds the subset, the floor's splits, the matched-size draws and the bootstrap.
        n_bootstrap: bootstrap replicates for the interval (0 = none).
        floor_splits: real-vs-real splits the floor is averaged over (and draws of the matched value).
    """

    region: FRDRegion = "image"
    max_items: int = 10000
    seed: int = 0
    n_bootstrap: int = 50
    floor_splits: int = DEFAULT_FLOOR_SPLITS

    def __post_init__(self) -> None:
        if self.region not in ("image", "breast"):
            raise ValueError(f"region must be 'image' or 'breast', got {self.region!r}")


class FRDMetric(SampledSets):
    """Streaming FRD between the real and the generated set, per view (keys ``frd`` or ``frd_breast``)."""

    def __init__(self, settings: FRDSettings = FRDSettings(), *, breast_masker: BreastMasker | None = None) -> None:
        self.cfg = settings
        self.breast_masker = breast_masker
        self.name = next(name for name, region in FRD_REGIONS.items() if region == settings.region)
        self.key = self.name
        self.reset()

    def reset(self) -> None:
        """Forget both sets."""
        self._sets = {r: PrioritySample(self.cfg.max_items) for r in (True, False)}
        self._names: list[str] | None = None

    def reset_fake(self) -> None:
        """Forget the generated set only."""
        self._sets[False] = PrioritySample(self.cfg.max_items)

    def settings(self) -> dict[str, Any]:
        """Return what changes the real-side state: features, region, PyRadiomics version, sampling."""
        return {"features": FRD_FEATURES_NAME, "region": self.cfg.region, "pyradiomics": radiomics_version(),
                "max_items": self.cfg.max_items, "seed": self.cfg.seed}

    def real_state(self) -> dict[str, Any]:
        """Return the real set's kept features and views, and the feature names."""
        return {"sample": self._sets[True].state(), "names": list(self._names or [])}

    def load_real_state(self, state: dict[str, Any]) -> None:
        """Restore the state saved by `real_state`."""
        self._sets[True] = PrioritySample.from_state(state["sample"])
        self._names = list(state["names"]) or None

    def _image_features(self, batch: ImageBatch) -> list[dict[str, float]]:
        pre = batch.precomputed.get(radiomics_key(self.cfg.region))  # rows a worker or another rank extracted
        if pre is not None:
            return list(pre)
        masks = batch_breast_masks(batch, self.breast_masker) if self.cfg.region == "breast" else None
        return radiomics_rows(batch.images, masks)

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Extract and keep the radiomics features of a batch."""
        rows = self._image_features(batch)
        if self._names is None:
            first = next((r for r in rows if r), None)
            if first is None:
                raise ValueError("no radiomics features could be extracted from the first batch")
            self._names = list(first)
        st = self._sets[real]
        stream = Stream.FRD_SAMPLE_REAL if real else Stream.FRD_SAMPLE_FAKE
        keys = sample_keys(self.cfg.seed, stream, st.n_seen, len(rows))
        st.add({"feats": torch.from_numpy(features_to_matrix(rows, self._names)),
                "views": batch.views.cpu().to(torch.int64)}, keys)

    def features(self, real: bool, view: str) -> np.ndarray:
        """Return the kept raw features float64 [n, D] of one set and view (rows with NaN included)."""
        st = self._sets[real]
        if len(st) == 0:
            return np.empty((0, len(self._names or [])))
        return st.get("feats")[view_masks(st.get("views"))[view]].numpy()

    def unavailable(self) -> dict[str, str]:
        """Return ``{"<key>/<view>": reason}`` for views with too few usable images."""
        out = self._too_few(self.key)
        for v in VIEW_NAMES:
            if f"{self.key}/{v}" in out or not (self._count(True, v) and self._count(False, v)):
                continue
            nr, nf = (int((~np.isnan(self.features(r, v)).any(1)).sum()) for r in (True, False))
            reason = too_few_reason(nr, nf)
            if reason:
                out[f"{self.key}/{v}"] = f"{reason} with finite radiomics features"
        return out

    def compute(self) -> ViewResults:
        """Return ``{view: {key: MetricResult}}`` (value = ln d^2; floor between real halves)."""
        def one(view: str, index: int) -> dict[str, MetricResult] | None:
            real, fake = self.features(True, view), self.features(False, view)
            res = self._compute_view(real[~np.isnan(real).any(1)], fake[~np.isnan(fake).any(1)], index)
            return None if res is None else {self.key: res}

        return self._per_view(one)

    def _compute_view(self, real: np.ndarray, fake: np.ndarray, vi: int) -> MetricResult | None:
        if too_few_reason(real.shape[0], fake.shape[0]):
            return None
        try:
            d2 = compute_frd_squared(real, fake)
        except ValueError:  # no feature varies across the real images
            return None
        value = math.log(d2) if d2 > 0 else -math.inf
        n_r, n_f = real.shape[0], fake.shape[0]
        floor = matched_floor(lambda a, b: _frd_or_nothing(real[a], real[b]), n_r, n_f,
                              seed=stream_seed(self.cfg.seed, Stream.FRD_FLOOR_SPLIT, vi),
                              n_splits=self.cfg.floor_splits).get("frd")
        matched = None
        if floor is not None:  # the value uses every image: recompute it at the floor's size for the ratio
            rng = numpy_rng(self.cfg.seed, Stream.FRD_MATCHED, vi)
            draws = [_frd_or_nothing(real[a], fake[b]).get("frd")
                     for a, b in matched_subsets(n_r, n_f, floor.size, draws=self.cfg.floor_splits, rng=rng)]
            finite = [d for d in draws if d is not None and math.isfinite(d)]
            matched = float(np.mean(finite)) if finite else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = _log_interval(d2, two_sample_bootstrap(
                lambda i, j: math.sqrt(_frd_squared_or_nan(real[i], fake[j])), n_r, n_f, value=math.sqrt(d2),
                n_bootstrap=self.cfg.n_bootstrap, seed=stream_seed(self.cfg.seed, Stream.FRD_BOOTSTRAP, vi)))
        return MetricResult(value, ci, None, n_r, n_f, matched_value=matched, log_value=True).with_floor(floor)


def _frd_squared_or_nan(real: np.ndarray, fake: np.ndarray) -> float:
    try:
        return compute_frd_squared(real, fake)
    except ValueError:
        return math.nan


def _log_interval(d2: float, ci_d: tuple[float, float] | None) -> tuple[float, float] | None:
    """Return the interval of FRD = ln d^2 from the centred interval `ci_d` of the distance d.

    Both sets are resampled. On the scale of d the centred bootstrap covers near its nominal rate
    (tests/metrics/test_coverage.py; centred on ln d^2 it under-covers, ~85 %, and on d^2 it
    over-covers, ~99.5 %); the ends are mapped through 2 ln, a lower end at or below 0 shown as
    ln(d^2 / 1000).
    """
    if ci_d is None or not d2 > 0:
        return None
    d = math.sqrt(d2)
    return 2 * math.log(max(ci_d[0], d * math.sqrt(1e-3))), 2 * math.log(max(ci_d[1], d))


def _frd_or_nothing(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Return ``{"frd": FRD}`` of two feature sets, or {} where FRD is undefined (too few images, no varying feature)."""
    try:
        return {"frd": compute_frd(real, fake)}
    except ValueError:
        return {}
