"""Breast regions for breast-aware metrics: QA's breast mask at the image's own size and orientation.

`compute_breast_masks` runs `mammoeval.qa.anatomy.compute_anatomy` on each image (about 256 rows,
a few ms per image) and maps its canonical, coarse mask back: un-flipped when the chest wall is on
the right and upsampled (nearest) to the full size. `erode_mask` shrinks a mask by a margin so
that patch centres stay inside the breast, away from the skin line. Several breast-aware metrics
fed the same batch share one computation when the batch carries the masks under
`BREAST_MASK_KEY` (`batch_breast_masks`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mammoeval.data.imageset import ImageBatch


def compute_breast_mask(image: np.ndarray) -> np.ndarray:
    """Return the bool [H, W] breast mask of one float [H, W] image in [0, 1] (may be all False)."""
    from mammoeval.qa.anatomy import compute_anatomy

    a = compute_anatomy(np.asarray(image, dtype=np.float32))
    mask = a.mask if a.chest_wall_side == "left" else a.mask[:, ::-1]
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return F.interpolate(t, size=image.shape, mode="nearest")[0, 0].numpy() > 0.5


def compute_breast_masks(images: torch.Tensor) -> torch.Tensor:
    """Return bool [N, 1, H, W] breast masks of float [N, 1, H, W] images in [0, 1] (on the CPU)."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected [N, 1, H, W] images, got {tuple(images.shape)}")
    x = images.detach().to("cpu", torch.float32).numpy()
    return torch.from_numpy(np.stack([compute_breast_mask(im[0]) for im in x]))[:, None]


BREAST_MASK_KEY = "regions/breast-mask"
"""`ImageBatch.precomputed` key of bool [N, 1, H, W] breast masks (`compute_breast_masks` of the batch)."""


def batch_breast_masks(batch: ImageBatch) -> torch.Tensor:
    """Return the batch's breast masks: the precomputed ones when the batch carries them, else computed."""
    pre = batch.precomputed.get(BREAST_MASK_KEY)
    if isinstance(pre, torch.Tensor) and pre.shape == batch.images.shape:
        return pre.bool().cpu()
    return compute_breast_masks(batch.images)


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
