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

Sample-size protocol (uncertainty.py): FID and PRDC are computed on equal-size sets (the larger set
subsampled to the smaller one's size m, averaged over `floor_splits` subsamples); KID, unbiased at
any size, uses every sample (subsets of `kid_subset_size` only above that size). Each floor is the
same metric between two disjoint real subsets of m samples (fewer when the real set holds under
2m), averaged over `floor_splits` splits. ``fid_inf`` (FD-infinity, Chong & Forsyth 2020) is the
Fréchet distance extrapolated to infinite sets where the sets are large enough (frechet.fd_infinity).
Intervals: centred two-sample bootstraps of both sets (FID at most 20 replicates above 512
dimensions; KID and PRDC see frechet.kid_interval and prdc.compute_prdc).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import torch

from mammoeval.core.seeding import Stream, stream_seed
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
from mammoeval.metrics.frechet import compute_fid, fd_infinity, kid_interval, kid_value
from mammoeval.metrics.offline import RobustScaling
from mammoeval.metrics.prdc import compute_prdc
from mammoeval.metrics.uncertainty import fd_infinity_requirement, matched_floor

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
        floor_splits: real-vs-real splits per floor, and subsamples averaged by equal-size values.
        max_bootstrap_prdc: samples per set in a PRDC bootstrap replicate (m-out-of-n above it).
    """

    max_items: int = 50000
    max_items_prdc: int = 10000
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    k_pr: int = 3
    k_dc: int = 5
    seed: int = 0
    n_bootstrap: int = 200
    floor_splits: int = 5
    max_bootstrap_prdc: int = 512


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
        stream = Stream.FEATURES_SAMPLE_REAL if real else Stream.FEATURES_SAMPLE_FAKE
        keys = sample_keys(self.cfg.seed, stream, st.n_seen, feats.shape[0])
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
        """Return ``{"<key>/<view>": reason}`` for views with too few images (FD-infinity: too few for its fit)."""
        out: dict[str, str] = {}
        for o in self.outputs:
            out.update(self._too_few(self.key(o), minimum=self._minimum(o)))
        if "fid" in self.outputs and len(self._sets[True]):
            need = fd_infinity_requirement(int(self._sets[True].get("feats").shape[1]))
            for v in VIEW_NAMES:
                nr, nf = self._count(True, v), self._count(False, v)
                if min(nr, nf) < need and (v == "all" or nr + nf > 0) and f"{self.key('fid')}/{v}" not in out:
                    out[f"{self.key('fid_inf')}/{v}"] = (f"FD-infinity needs at least {need} images per set in this "
                                                         f"view (real {nr}, generated {nf})")
        return out

    def _minimum(self, output: FeatureOutput) -> int:
        # PRDC needs k + 1 samples per set for its k-NN radii; FID and KID need 2.
        return max(self.cfg.k_pr, self.cfg.k_dc) + 1 if output == "prdc" else 2

    def compute(self) -> ViewResults:
        """Return ``{view: {key: MetricResult}}`` for the requested outputs."""
        def one(v: str, vi: int) -> dict[str, MetricResult] | None:
            real, fake = self.features(True, v), self.features(False, v)
            if too_few_reason(real.shape[0], fake.shape[0]):
                return None
            res: dict[str, MetricResult] = {}
            if "fid" in self.outputs:
                res.update(self._fid(real, fake, vi))
            if "kid" in self.outputs:
                res.update(self._kid(real, fake, vi))
            if "prdc" in self.outputs and not too_few_reason(real.shape[0], fake.shape[0], minimum=self._minimum("prdc")):
                res.update(self._prdc(real, fake, vi))
            return res

        return self._per_view(one)

    def _fid(self, real: torch.Tensor, fake: torch.Tensor, vi: int) -> dict[str, MetricResult]:
        r, f = real.numpy(), fake.numpy()
        s = self.cfg.seed
        out = {self.key("fid"): compute_fid(r, f, floor_splits=self.cfg.floor_splits, n_bootstrap=self.cfg.n_bootstrap,
                                            seed=stream_seed(s, Stream.FEATURES_FID, vi))}
        inf = fd_infinity(r, f, seed=stream_seed(s, Stream.FEATURES_FID_INF, vi))
        if inf is not None:
            out[self.key("fid_inf")] = MetricResult(inf, None, None, r.shape[0], f.shape[0])
        return out

    def _kid(self, real: torch.Tensor, fake: torch.Tensor, vi: int) -> dict[str, MetricResult]:
        r, f = real.numpy(), fake.numpy()
        s = self.cfg.seed
        size, subsets = self.cfg.kid_subset_size, self.cfg.kid_subsets
        value = kid_value(r, f, n_subsets=subsets, subset_size=size, seed=stream_seed(s, Stream.KID_SUBSETS, vi))
        floor_subsets = stream_seed(s, Stream.FEATURES_KID_FLOOR_SUBSETS, vi)
        floor = matched_floor(
            lambda a, b: {"kid": kid_value(r[a], r[b], n_subsets=subsets, subset_size=size, seed=floor_subsets)}
            if min(len(a), len(b)) >= 2 else {}, r.shape[0], f.shape[0],
            seed=stream_seed(s, Stream.FEATURES_KID_FLOOR_SPLIT, vi), n_splits=self.cfg.floor_splits).get("kid")
        ci = kid_interval(r, f, value, n_bootstrap=self.cfg.n_bootstrap, subset_size=size,
                          seed=stream_seed(s, Stream.FEATURES_KID_BOOTSTRAP, vi))
        return {self.key("kid"): MetricResult(value, ci, None, r.shape[0], f.shape[0], zero_floor=True).with_floor(floor)}

    def _prdc(self, real: torch.Tensor, fake: torch.Tensor, vi: int) -> dict[str, MetricResult]:
        res = compute_prdc(real, fake, k_pr=self.cfg.k_pr, k_dc=self.cfg.k_dc, repeats=self.cfg.floor_splits,
                           floor_splits=self.cfg.floor_splits, n_bootstrap=self.cfg.n_bootstrap,
                           max_bootstrap=self.cfg.max_bootstrap_prdc, max_pool=self.cfg.max_items_prdc,
                           seed=stream_seed(self.cfg.seed, Stream.FEATURES_PRDC, vi))
        return {self.key(k): v for k, v in res.items()}


def feature_settings_dict(settings: FeatureSettings) -> dict[str, Any]:
    """Return the settings as a JSON-able dict."""
    return asdict(settings)
