"""Breast regions for breast-aware metrics: per-image masks, erosion and downsampling.

The mask itself is QA's (`mammoeval.qa.breast_mask.compute_breast_mask`); metrics may not import
QA, so they receive it as a `BreastMasker` function (the scorer passes QA's) or read masks a batch
already carries under `BREAST_MASK_KEY` (several breast-aware metrics fed the same batch then share
one computation). `erode_mask` shrinks a mask by a margin so that patch centres stay inside the
breast, away from the skin line.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mammoeval.data.imageset import ImageBatch

BreastMasker = Callable[[np.ndarray], np.ndarray]
"""float [H, W] image in [0, 1] -> bool [H, W] breast mask at the same size and orientation."""

BREAST_MASK_KEY = "regions/breast-mask"
"""`ImageBatch.precomputed` key of bool [N, 1, H, W] breast masks (`compute_breast_masks` of the batch)."""

NO_MASKER_REASON = ("breast-aware metrics need QA's breast mask: score with `mammoeval score`, or pass "
                    "breast_masker=mammoeval.qa.breast_mask.compute_breast_mask")


def compute_breast_masks(images: torch.Tensor, masker: BreastMasker) -> torch.Tensor:
    """Return bool [N, 1, H, W] breast masks of float [N, 1, H, W] images in [0, 1] (on the CPU)."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected [N, 1, H, W] images, got {tuple(images.shape)}")
    x = images.detach().to("cpu", torch.float32).numpy()
    return torch.from_numpy(np.stack([np.asarray(masker(im[0]), dtype=bool) for im in x]))[:, None]


def batch_breast_masks(batch: ImageBatch, masker: BreastMasker | None) -> torch.Tensor:
    """Return the batch's breast masks: the precomputed ones when the batch carries them, else `masker`'s.

    Raises:
        ValueError: the batch carries no masks and no masker is given.
    """
    pre = batch.precomputed.get(BREAST_MASK_KEY)
    if isinstance(pre, torch.Tensor) and pre.shape == batch.images.shape:
        return pre.bool().cpu()
    if masker is None:
        raise ValueError(NO_MASKER_REASON)
    return compute_breast_masks(batch.images, masker)


def erode_mask(mask: torch.Tensor, margin_px: int) -> torch.Tensor:
    """Return bool `mask` [N, 1, H, W] eroded by a (2 * margin_px + 1) square (pixels outside the image count as off)."""
    if margin_px <= 0:
        return mask.bool()
    k = 2 * margin_px + 1
    inv = (~mask.bool()).float()
    grown = F.max_pool2d(F.pad(inv, (margin_px,) * 4, value=1.0), k, stride=1)
    return grown < 0.5


def downsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Return bool [N, 1, h, w]: the share of breast pixels under each coarse pixel is at least one half."""
    return F.adaptive_avg_pool2d(mask.float(), size) >= 0.5
