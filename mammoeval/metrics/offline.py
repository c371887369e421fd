"""The offline feature space: a deterministic, handcrafted 70-d descriptor that needs no weights.

What it is: per image, resized (area averaging) to 256 px high, keeping the aspect ratio:

- breast area fraction (pixels above 0.04; the background is black);
- intensity of the breast region: mean, std, 5/25/50/75/95 % quantiles and a 16-bin histogram;
- texture: mean, std and 90 % quantile of the absolute Laplacian band at 5 pyramid levels;
- edges: 50/90/99 % quantiles of the Sobel gradient magnitude in the breast and an 8-bin,
  magnitude-weighted histogram of gradient orientation (modulo 180 degrees);
- local contrast: 25/50/75/90 % quantiles of the 7x7 local standard deviation in the breast;
- layout: mean intensity on a 4x4 grid (shape and position of the breast).

Limits: it is not a learned representation and knows nothing about anatomy beyond these
statistics; distances in it are meaningful for ranking and for nearest-neighbour searches within
one evaluation, but FID/KID/precision/recall computed in it (`fid_offline`, ...) are NOT
comparable with published Inception-based numbers.

Scaling (`RobustScaling`, fitted on the real set, or the training set for memorization): per
dimension, centre = median, scale = IQR / 1.349 (the standard deviation for Gaussian data),
floored at `SCALE_FLOOR_FRACTION` of that dimension's standard deviation (dimensions where most
images share one value, such as a histogram bin the breast rarely reaches, have an IQR of 0) and
at `SCALE_FLOOR_ABS`; scaled values are clipped to +-`CLIP` robust units. So each dimension adds at
most (2 x CLIP)^2 to a squared distance, however constant it is in the real set: a few
near-constant dimensions can no longer dominate FID/KID/PRDC in this space. Price: a generated
image beyond CLIP robust units of the real set in some dimension counts as CLIP there (the
distances saturate for grossly different sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import torch
import torch.nn.functional as F

from mammoeval.metrics.swd import laplacian_pyramid

OFFLINE_NAME: Final[str] = "offline-texture-v1"
OFFLINE_DIM: Final[int] = 70
OFFLINE_HEIGHT: Final[int] = 256
"""Working resolution: every image is area-resized to this height (aspect kept) before its features."""
_HEIGHT = OFFLINE_HEIGHT
_MASK_LEVEL = 0.04


def _masked_quantiles(x: torch.Tensor, mask: torch.Tensor, qs: list[float]) -> torch.Tensor:
    """Return [N, len(qs)] quantiles of x [N, M] over entries where mask [N, M] is set (0 where none)."""
    v = torch.where(mask, x, torch.full_like(x, float("nan")))
    q = torch.nanquantile(v, torch.tensor(qs, dtype=x.dtype, device=x.device), dim=1).T
    return torch.nan_to_num(q, nan=0.0)


class OfflineExtractor:
    """Handcrafted texture and intensity features (see the module docstring); no weights needed."""

    name = OFFLINE_NAME
    dim = OFFLINE_DIM
    weights_hash = OFFLINE_NAME  # versioned by name: any change to the features bumps it

    def __init__(self, *, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """Return float32 [N, 70] features of float [N, 1, H, W] images in [0, 1]."""
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"expected [N, 1, H, W] images, got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        # float64 throughout: float32 reductions round differently with the batch size on some CPUs,
        # and a feature must not depend on which images share its batch.
        x = F.adaptive_avg_pool2d(images.to(self.device, torch.float64), (_HEIGHT, max(16, round(_HEIGHT * w / h))))
        n = x.shape[0]
        flat = x.flatten(1)
        mask = flat > _MASK_LEVEL
        has = mask.any(1, keepdim=True)
        mask = torch.where(has, mask, torch.ones_like(mask))  # an empty image: use every pixel
        cnt = mask.sum(1, keepdim=True).clamp_min(1)
        mean = (flat * mask).sum(1, keepdim=True) / cnt
        std = (((flat - mean) ** 2) * mask).sum(1, keepdim=True).div(cnt).sqrt()
        feats = [mask.to(x.dtype).mean(1, keepdim=True) * has, mean, std,
                 _masked_quantiles(flat, mask, [0.05, 0.25, 0.5, 0.75, 0.95])]
        bins = (flat.clamp(0, 1 - 1e-6) * 16).long()
        hist = torch.zeros(n, 16, device=x.device, dtype=x.dtype).scatter_add_(1, bins, mask.to(x.dtype))
        feats.append(hist / cnt)
        bands = laplacian_pyramid(x, 5)
        bands[-1] = bands[-1] - bands[-1].mean((2, 3), keepdim=True)  # residual: its contrast, not its level
        for band in bands:
            a = band.abs().flatten(1)
            feats += [a.mean(1, keepdim=True), a.std(1, keepdim=True), torch.quantile(a, 0.9, dim=1, keepdim=True)]
        feats += self._edges(x, mask)
        feats.append(F.adaptive_avg_pool2d(x, 4).flatten(1))
        out = torch.cat(feats, dim=1)
        if out.shape[1] != OFFLINE_DIM:
            raise AssertionError(f"offline features have {out.shape[1]} dims, expected {OFFLINE_DIM}")
        return out.float()

    @staticmethod
    def _edges(x: torch.Tensor, mask_full: torch.Tensor) -> list[torch.Tensor]:
        small = F.avg_pool2d(x, 2)
        mask = F.max_pool2d(mask_full.view_as(x).to(x.dtype), 2).flatten(1) > 0
        sob = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], device=x.device, dtype=x.dtype) / 8
        pad = F.pad(small, (1, 1, 1, 1), mode="replicate")
        gx = F.conv2d(pad, sob.view(1, 1, 3, 3)).flatten(1)
        gy = F.conv2d(pad, sob.T.contiguous().view(1, 1, 3, 3)).flatten(1)
        mag = torch.sqrt(gx ** 2 + gy ** 2)
        theta = torch.remainder(torch.atan2(gy, gx), torch.pi)
        obins = (theta / torch.pi * 8).long().clamp(0, 7)
        ohist = torch.zeros(x.shape[0], 8, device=x.device, dtype=x.dtype).scatter_add_(1, obins, mag * mask)
        ohist = ohist / ohist.sum(1, keepdim=True).clamp_min(1e-12)
        local_mean = F.avg_pool2d(F.pad(small, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
        local_sq = F.avg_pool2d(F.pad(small ** 2, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
        local_std = (local_sq - local_mean ** 2).clamp_min(0).sqrt().flatten(1)
        return [_masked_quantiles(mag, mask, [0.5, 0.9, 0.99]), ohist,
                _masked_quantiles(local_std, mask, [0.25, 0.5, 0.75, 0.9])]


SCALE_FLOOR_FRACTION: Final[float] = 0.1
"""A dimension's robust scale is at least this share of its standard deviation in the reference set."""
SCALE_FLOOR_ABS: Final[float] = 1e-6
"""And at least this (feature units; the features are grey levels in [0, 1] and statistics of them)."""
CLIP: Final[float] = 5.0
"""Scaled values are clipped to [-CLIP, CLIP]."""


@dataclass(frozen=True)
class RobustScaling:
    """Per-dimension robust standardisation fitted on a reference set (see the module docstring).

    Attributes:
        center: float64 [D] medians; scale: float64 [D] floored IQR / 1.349; clip: bound of the output.
    """

    center: torch.Tensor
    scale: torch.Tensor
    clip: float = CLIP

    @classmethod
    def fit(cls, reference: torch.Tensor) -> RobustScaling:
        """Return the scaling fitted on `reference` float [n, D] (n >= 1)."""
        ref = reference.double()
        if ref.ndim != 2 or ref.shape[0] < 1:
            raise ValueError(f"expected a non-empty [n, D] reference, got {tuple(ref.shape)}")
        q = torch.quantile(ref, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
        std = ref.std(0, unbiased=False)
        scale = torch.maximum((q[2] - q[0]) / 1.349, SCALE_FLOOR_FRACTION * std).clamp_min(SCALE_FLOOR_ABS)
        return cls(q[1], scale)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Return float64 [n, D]: (x - center) / scale clipped to [-clip, clip]."""
        return ((x.double() - self.center) / self.scale).clamp(-self.clip, self.clip)
