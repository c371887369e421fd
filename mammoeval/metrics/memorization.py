"""Memorization: is a generated image a copy of a training image?

For every generated image, the nearest training image and its distance in two spaces:

- ``pixels``: the image area-downsampled to 64 px high (aspect kept), distance = root mean
  square pixel difference (grey levels in [0, 1]);
- ``features``: the offline feature space (offline.py), robustly scaled by the training set
  (offline.RobustScaling), Euclidean.

The same distances are computed for held-out real images, which is what "close, but not a copy"
looks like. Held-out reals: when a separate training set is given, every real image is held out;
when the training set IS the real set (the default), each real image is held out in turn
(leave-one-out: its nearest OTHER real image), which keeps the reference set the same size for
both. The copy threshold in each space is the `floor_quantile` (default 1 %) quantile of the
held-out distances; a generated image at or below the threshold in either space is flagged as a
possible copy. Near-duplicate real images (the same breast twice) lower the threshold.

Keys: ``memorization_rate`` (fraction flagged; interval by bootstrap over generated images; floor =
the same fraction for held-out reals, about `floor_quantile` by construction) and
``nn_distance_median`` (median pixel-space distance of generated images to their nearest training
image; floor = the held-out reals' median). The flagged pairs (``fake_id``, ``train_id``,
``distance``, ``space``), closest first, are kept for the report (at most `max_pairs`).

References:
    G. Somepalli et al. Diffusion art or digital forgery? CVPR 2023 (copy detection by nearest
    neighbours); A. Alaa et al. How faithful is your synthetic data? ICML 2022 (authenticity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from mammoeval.core.seeding import Stream, stream_seed
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import VIEW_NAMES, MetricResult, ViewResults, too_few_reason, view_masks
from mammoeval.metrics.features import FeatureExtractor
from mammoeval.metrics.offline import RobustScaling
from mammoeval.metrics.uncertainty import bootstrap_ci

Space = Literal["pixels", "features"]
_PIXEL_HEIGHT = 64


@dataclass(frozen=True)
class MemorizationSettings:
    """Settings.

    Attributes:
        floor_quantile: quantile of held-out real distances used as the copy threshold.
        max_pairs: flagged pairs kept per view.
        n_bootstrap: replicates for the rate's interval.
        seed: seeds the bootstrap.
    """

    floor_quantile: float = 0.01
    max_pairs: int = 100
    n_bootstrap: int = 200
    seed: int = 0


def downsample_pixels(images: torch.Tensor) -> torch.Tensor:
    """Return float16 [N, 64 * w] vectors of images [N, 1, H, W] area-downsampled to 64 px high."""
    h, w = images.shape[-2:]
    small = F.adaptive_avg_pool2d(images.float(), (_PIXEL_HEIGHT, max(1, round(_PIXEL_HEIGHT * w / h))))
    return small.flatten(1).to(torch.float16)


def nearest(query: torch.Tensor, ref: torch.Tensor, *, exclude_self: bool = False, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (distance [Q], index [Q]) of each query row's nearest row of `ref` (Euclidean).

    exclude_self: query and ref are the same set; a row's own entry is skipped (leave-one-out).
    """
    dist, idx = [], []
    for s in range(0, query.shape[0], chunk):
        d = torch.cdist(query[s:s + chunk].double(), ref.double())
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + s] = float("inf")
        m = d.min(1)
        dist.append(m.values)
        idx.append(m.indices)
    return torch.cat(dist), torch.cat(idx)


class MemorizationMetric:
    """Streaming nearest-neighbour copy check of generated images against the training set, per view."""

    name = "memorization"

    def __init__(self, extractor: FeatureExtractor, settings: MemorizationSettings = MemorizationSettings()) -> None:
        self.extractor = extractor
        self.cfg = settings
        self.reset()

    def reset(self) -> None:
        """Forget every set."""
        self._sets: dict[str, dict[str, Any]] = {k: self._empty() for k in ("real", "fake", "train")}

    def reset_fake(self) -> None:
        """Forget the generated set only."""
        self._sets["fake"] = self._empty()

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {"pixels": [], "feats": [], "views": [], "ids": []}

    def settings(self) -> dict[str, Any]:
        """Return what changes the real-side state."""
        return {"pixel_height": _PIXEL_HEIGHT, "extractor": self.extractor.name, "weights": self.extractor.weights_hash}

    def _add(self, role: str, batch: ImageBatch) -> None:
        st = self._sets[role]
        st["pixels"].append(downsample_pixels(batch.images.cpu()))
        st["feats"].append(self.extractor.extract(batch.images).float().cpu())
        st["views"].append(batch.views.cpu())
        st["ids"].extend(batch.ids)

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Add real (held-out / training when no separate training set) or generated images."""
        self._add("real" if real else "fake", batch)

    def update_train(self, batch: ImageBatch) -> None:
        """Add images of a separate training set (then every real image counts as held out)."""
        self._add("train", batch)

    def real_state(self) -> dict[str, Any]:
        """Return the real set's pixel vectors, features, views and ids."""
        return self._packed("real")

    def load_real_state(self, state: dict[str, Any]) -> None:
        """Restore the real set saved by `real_state`."""
        self._sets["real"] = {"pixels": [state["pixels"]], "feats": [state["feats"]], "views": [state["views"]],
                              "ids": list(state["ids"])}

    def _packed(self, role: str) -> dict[str, Any]:
        st = self._sets[role]
        if not st["ids"]:
            return {"pixels": torch.empty(0, 0, dtype=torch.float16), "feats": torch.empty(0, 0),
                    "views": torch.empty(0, dtype=torch.int64), "ids": []}
        return {"pixels": torch.cat(st["pixels"]), "feats": torch.cat(st["feats"]), "views": torch.cat(st["views"]),
                "ids": list(st["ids"])}

    def unavailable(self) -> dict[str, str]:
        """Return ``{"memorization/<view>": reason}`` for views with too few images."""
        out = {}
        real, fake = self._packed("real"), self._packed("fake")
        for v in VIEW_NAMES:
            nr = int(view_masks(real["views"])[v].sum()) if real["ids"] else 0
            nf = int(view_masks(fake["views"])[v].sum()) if fake["ids"] else 0
            reason = too_few_reason(nr, nf)
            if reason and (v == "all" or nr + nf > 0):
                out[f"memorization/{v}"] = reason
        return out

    def compute(self) -> ViewResults:
        """Return ``{view: {"memorization_rate", "nn_distance_median"}}``; pairs via `pairs()`."""
        return {v: r for v, (r, _) in self._compute_all().items()}

    def pairs(self) -> dict[str, list[dict[str, Any]]]:
        """Return the flagged pairs per view: ``[{"fake_id", "train_id", "distance", "space"}, ...]``."""
        return {v: p for v, (_, p) in self._compute_all().items()}

    def _compute_all(self) -> dict[str, tuple[dict[str, MetricResult], list[dict[str, Any]]]]:
        real, fake, train = self._packed("real"), self._packed("fake"), self._packed("train")
        separate = bool(train["ids"])
        out: dict[str, tuple[dict[str, MetricResult], list[dict[str, Any]]]] = {}
        for v in VIEW_NAMES:
            if not real["ids"] or not fake["ids"]:
                break
            rm, fm = view_masks(real["views"])[v], view_masks(fake["views"])[v]
            tr = train if separate else real
            tm = view_masks(tr["views"])[v]
            if too_few_reason(int(rm.sum()), int(fm.sum())) or int(tm.sum()) < 2:
                continue
            out[v] = self._compute_view(real, fake, tr, rm, fm, tm, separate, VIEW_NAMES.index(v))
        return out

    def _compute_view(self, real: dict[str, Any], fake: dict[str, Any], train: dict[str, Any], rm: torch.Tensor,
                      fm: torch.Tensor, tm: torch.Tensor, separate: bool, vi: int) -> tuple[dict[str, MetricResult], list[dict[str, Any]]]:
        t_ids = [i for i, keep in zip(train["ids"], tm.tolist(), strict=True) if keep]
        f_ids = [i for i, keep in zip(fake["ids"], fm.tolist(), strict=True) if keep]
        tf = train["feats"][tm].double()
        scaling = RobustScaling.fit(tf)
        spaces = {
            "pixels": (train["pixels"][tm], real["pixels"][rm], fake["pixels"][fm],
                       float(np.sqrt(train["pixels"].shape[1]))),
            "features": (scaling.apply(tf), scaling.apply(real["feats"][rm]), scaling.apply(fake["feats"][fm]), 1.0),
        }
        flagged = torch.zeros(int(fm.sum()), dtype=torch.bool)
        held_flag = torch.zeros(int(rm.sum()), dtype=torch.bool)
        pairs: list[dict[str, Any]] = []
        medians = {}
        for space, (t, r, f, scale) in spaces.items():
            d_held, _ = nearest(r, t, exclude_self=not separate)
            d_fake, i_fake = nearest(f, t)
            d_held, d_fake = d_held / scale, d_fake / scale
            thr = float(torch.quantile(d_held, self.cfg.floor_quantile))
            hit = d_fake <= thr
            flagged |= hit
            held_flag |= d_held <= thr
            pairs += [{"fake_id": f_ids[i], "train_id": t_ids[int(i_fake[i])], "distance": float(d_fake[i]),
                       "space": space} for i in hit.nonzero().flatten().tolist()]
            if space == "pixels":
                medians = {"fake": float(d_fake.median()), "held": float(d_held.median())}
        pairs.sort(key=lambda p: (p["distance"], p["space"]))
        n_real, n_fake = int(rm.sum()), int(fm.sum())
        rate = flagged.double().numpy()
        ci = bootstrap_ci(rate, n_bootstrap=self.cfg.n_bootstrap,
                          seed=stream_seed(self.cfg.seed, Stream.MEMORIZATION_BOOTSTRAP, vi))
        res = {
            "memorization_rate": MetricResult(float(rate.mean()), ci, float(held_flag.double().mean()), n_real, n_fake),
            "nn_distance_median": MetricResult(medians["fake"], None, medians["held"], n_real, n_fake),
        }
        return res, pairs[: self.cfg.max_pairs]
