"""Feature extractors and the streaming metric over their features: FID, KID, precision/recall,
density/coverage, each per view, with intervals and real-vs-real floors.

Two feature spaces: ``inception`` (pytorch-fid's FID Inception v3, 2048-d; needs local weights,
see inception.py) and ``offline`` (handcrafted 70-d texture and intensity statistics, always
available, see offline.py). Result keys carry the space: ``fid``, ``kid``, ``precision``, ...
for Inception and ``fid_offline``, ``kid_offline``, ... for the offline space. Offline features
are robustly scaled by the real set (median / floored IQR, clipped; offline.RobustScaling) before
any distance; Inception features are used raw, as in the literature.

Memory: each set keeps at most `max_items` feature vectors (seeded uniform subset above it,
priority sampling), float32: 50000 x 2048 x 4 B = 410 MB per set at most. Precision/recall and
density/coverage use at most `max_items_prdc` of them (pairwise distances are quadratic).

Floors: FID, KID and the PRDC values between two seeded disjoint halves of the real set.
Intervals: FID resamples the generated features (real statistics held fixed; for more than 512
dimensions at most 20 replicates, each needs an eigen-decomposition); KID resamples its subset
values; PRDC resamples the per-sample indicators.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch

from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import (
    VIEW_NAMES,
    MetricResult,
    PrioritySample,
    SampledSets,
    ViewResults,
    image_seed,
    too_few_reason,
    view_masks,
)
from mammoeval.metrics.frechet import (
    features_to_stats,
    frechet_distance,
    kid_subsets,
    psd_factor,
    trace_sqrt_product,
)
from mammoeval.metrics.offline import RobustScaling
from mammoeval.metrics.prdc import compute_prdc_indicators
from mammoeval.metrics.uncertainty import bootstrap_ci, split_halves

FeatureSpace = Literal["inception", "offline"]
FeatureOutput = Literal["fid", "kid", "prdc"]


class FeatureExtractor(Protocol):
    """Maps grey images to feature vectors."""

    name: str
    dim: int
    weights_hash: str

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """Return float32 [N, dim] features of float [N, 1, H, W] images in [0, 1]."""
        ...


def feature_key(extractor: FeatureExtractor) -> str:
    """Return the `ImageBatch.precomputed` key of `extractor`'s features ("features/<name>/<weights hash>")."""
    return f"features/{extractor.name}/{extractor.weights_hash}"


class MemoExtractor:
    """Wraps an extractor so that the same batch tensor is only extracted once (several metrics share it).

    `prime(batch)` lets features computed elsewhere (another torchrun rank) stand in for extraction.
    """

    def __init__(self, inner: FeatureExtractor) -> None:
        self.inner = inner
        self.name, self.dim, self.weights_hash = inner.name, inner.dim, inner.weights_hash
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """Return the inner extractor's features, reusing them when `images` is the last tensor seen."""
        if self._last is not None and self._last[0] is images:
            return self._last[1]
        feats = self.inner.extract(images).float().cpu()
        self._last = (images, feats)  # holding the tensor keeps its identity unique while cached
        return feats

    def prime(self, batch: ImageBatch) -> bool:
        """Return whether `batch` carries this extractor's features; if so, `extract(batch.images)` returns them.

        The features must come from the same extractor (name and weights hash, see `feature_key`)
        applied to the same pixels, so that results equal local extraction.
        """
        feats = batch.precomputed.get(feature_key(self.inner))
        if feats is None:
            return False
        if not isinstance(feats, torch.Tensor) or feats.shape != (batch.images.shape[0], self.dim):
            raise ValueError(f"precomputed {feature_key(self.inner)} features must be [N, {self.dim}]")
        self._last = (batch.images, feats.float().cpu())
        return True


@dataclass(frozen=True)
class FeatureSettings:
    """Settings of the feature metrics.

    Attributes:
        max_items: feature vectors kept per set (seeded uniform subset above it).
        max_items_prdc: vectors per set used for precision/recall/density/coverage.
        kid_subsets: random subsets for KID; kid_subset_size: their size (capped at the set sizes).
        k_pr, k_dc: neighbours for precision/recall and for density/coverage.
        seed: seeds sampling, subsets and splits.
        n_bootstrap: replicates for intervals (0 = none).
    """

    max_items: int = 50000
    max_items_prdc: int = 10000
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    k_pr: int = 3
    k_dc: int = 5
    seed: int = 0
    n_bootstrap: int = 200


class FeatureMetric(SampledSets):
    """Streaming FID / KID / PRDC in one feature space, per view."""

    def __init__(self, extractor: FeatureExtractor, *, space: FeatureSpace,
                 outputs: tuple[FeatureOutput, ...] = ("fid", "kid", "prdc"),
                 settings: FeatureSettings = FeatureSettings()) -> None:
        self.extractor = extractor
        self.space = space
        self.outputs = outputs
        self.cfg = settings
        self.name = f"features_{space}"
        self.reset()

    def key(self, base: str) -> str:
        """Return the result key of `base` ("fid", "precision", ...) in this space."""
        return base if self.space == "inception" else f"{base}_offline"

    def reset(self) -> None:
        """Forget both sets."""
        self._sets = {r: PrioritySample(self.cfg.max_items) for r in (True, False)}

    def reset_fake(self) -> None:
        """Forget the generated set only."""
        self._sets[False] = PrioritySample(self.cfg.max_items)

    def settings(self) -> dict[str, Any]:
        """Return what changes the real-side state: sampling settings and the extractor."""
        return {"max_items": self.cfg.max_items, "seed": self.cfg.seed, "extractor": self.extractor.name,
                "weights": self.extractor.weights_hash}

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Extract and keep the features of a batch."""
        st = self._sets[real]
        feats = self.extractor.extract(batch.images)
        keys = torch.tensor([float(torch.rand(1, dtype=torch.float64, generator=torch.Generator().manual_seed(
            image_seed(self.cfg.seed, 21 if real else 22, st.n_seen + i)))) for i in range(feats.shape[0])],
            dtype=torch.float64)
        st.add({"feats": feats, "views": batch.views.cpu().to(torch.int64)}, keys)

    def features(self, real: bool, view: str) -> torch.Tensor:
        """Return the kept features [n, D] of one set and view (float64; robustly scaled by the real set in
        the offline space, see `mammoeval.metrics.offline.RobustScaling`)."""
        st = self._sets[real]
        if len(st) == 0 or len(self._sets[True]) == 0:
            return torch.empty(0, 0, dtype=torch.float64)
        f = st.get("feats")[view_masks(st.get("views"))[view]].double()
        if self.space == "offline":
            f = RobustScaling.fit(self._sets[True].get("feats")).apply(f)
        return f

    def unavailable(self) -> dict[str, str]:
        """Return ``{"<output>/<view>": reason}`` for views with too few images."""
        out: dict[str, str] = {}
        for o in self.outputs:
            out.update(self._too_few(self.key(o), minimum=self._minimum(o)))
        return out

    def _minimum(self, output: FeatureOutput) -> int:
        # PRDC needs k + 1 samples per set for its k-NN radii; FID and KID need 2.
        return max(self.cfg.k_pr, self.cfg.k_dc) + 1 if output == "prdc" else 2

    def compute(self) -> ViewResults:
        """Return ``{view: {key: MetricResult}}`` for the requested outputs."""
        out: ViewResults = {}
        for vi, v in enumerate(VIEW_NAMES):
            real, fake = self.features(True, v), self.features(False, v)
            if too_few_reason(real.shape[0], fake.shape[0]):
                continue
            half_a, half_b = split_halves(real.shape[0], seed=image_seed(self.cfg.seed, 23, vi))
            res: dict[str, MetricResult] = {}
            if "fid" in self.outputs:
                res.update(self._fid(real, fake, half_a, half_b, vi))
            if "kid" in self.outputs:
                res.update(self._kid(real, fake, half_a, half_b, vi))
            if "prdc" in self.outputs and not too_few_reason(real.shape[0], fake.shape[0], minimum=self._minimum("prdc")):
                res.update(self._prdc(real, fake, half_a, half_b, vi))
            out[v] = res
        return out

    def _fid(self, real: torch.Tensor, fake: torch.Tensor, a: np.ndarray, b: np.ndarray, vi: int) -> dict[str, MetricResult]:
        r, f = real.numpy(), fake.numpy()
        mu1, s1 = features_to_stats(r)
        mu2, s2 = features_to_stats(f)
        value = frechet_distance(mu1, s1, mu2, s2)
        floor = frechet_distance(*features_to_stats(r[a]), *features_to_stats(r[b])) if min(len(a), len(b)) >= 2 else None
        s1_factor, tr1 = psd_factor(s1), float(np.trace(s1))

        def stat(idx: np.ndarray) -> float:
            m2, c2 = features_to_stats(f[idx])
            d = mu1 - m2
            return float(d @ d + tr1 + np.trace(c2) - 2 * trace_sqrt_product(s1_factor, c2))

        n_boot = self.cfg.n_bootstrap if r.shape[1] <= 512 else min(self.cfg.n_bootstrap, 20)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # already warned once for the headline value
            ci = bootstrap_ci(statistic=stat, n=f.shape[0], n_bootstrap=n_boot, seed=image_seed(self.cfg.seed, 24, vi))
        return {self.key("fid"): MetricResult(value, ci, floor, r.shape[0], f.shape[0])}

    def _kid(self, real: torch.Tensor, fake: torch.Tensor, a: np.ndarray, b: np.ndarray, vi: int) -> dict[str, MetricResult]:
        r, f = real.numpy(), fake.numpy()
        seed = image_seed(self.cfg.seed, 25, vi)
        vals = kid_subsets(r, f, n_subsets=self.cfg.kid_subsets, subset_size=self.cfg.kid_subset_size, seed=seed)
        floor = float(kid_subsets(r[a], r[b], n_subsets=self.cfg.kid_subsets, subset_size=self.cfg.kid_subset_size,
                                  seed=seed + 1).mean()) if min(len(a), len(b)) >= 2 else None
        ci = bootstrap_ci(vals, n_bootstrap=self.cfg.n_bootstrap, seed=seed + 2)
        return {self.key("kid"): MetricResult(float(vals.mean()), ci, floor, r.shape[0], f.shape[0])}

    def _subsample(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        if x.shape[0] <= self.cfg.max_items_prdc:
            return x
        g = torch.Generator().manual_seed(seed)
        return x[torch.sort(torch.randperm(x.shape[0], generator=g)[: self.cfg.max_items_prdc]).values]

    def _prdc(self, real: torch.Tensor, fake: torch.Tensor, a: np.ndarray, b: np.ndarray, vi: int) -> dict[str, MetricResult]:
        seed = image_seed(self.cfg.seed, 26, vi)
        r, f = self._subsample(real, seed), self._subsample(fake, seed + 1)
        ind = compute_prdc_indicators(r, f, k_pr=self.cfg.k_pr, k_dc=self.cfg.k_dc)
        floors: dict[str, float | None] = dict.fromkeys(("precision", "recall", "density", "coverage"))
        if min(len(a), len(b)) > self.cfg.k_dc:
            fl = compute_prdc_indicators(real[a], real[b], k_pr=self.cfg.k_pr, k_dc=self.cfg.k_dc)
            floors = {k: float(getattr(fl, k).mean()) for k in floors}
        out = {}
        for i, name in enumerate(("precision", "recall", "density", "coverage")):
            v = getattr(ind, name).numpy()
            ci = bootstrap_ci(v, n_bootstrap=self.cfg.n_bootstrap, seed=seed + 10 + i)
            out[self.key(name)] = MetricResult(float(v.mean()), ci, floors[name], r.shape[0], f.shape[0])
        return out


def feature_settings_dict(settings: FeatureSettings) -> dict[str, Any]:
    """Return the settings as a JSON-able dict."""
    return asdict(settings)
