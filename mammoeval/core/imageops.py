"""Image operations several layers share: box reduction (NumPy and torch) and reduction to a height.

Box reduction by an integer factor k averages each k x k block (trailing rows and columns that do
not fill a block are dropped). The NumPy form serves per-image QA and label inference; the torch
form serves batches ([N, C, H, W]) in datasets, image sets, the scorer, the report and the trainer.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F


def box_reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Return float32 [H // factor, W // factor]: the means of factor x factor blocks of `image` [H, W].

    Sums strided slices (several times faster than a reshaped mean); `factor` 1 returns a float32 copy.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    h, w = image.shape[0] // factor, image.shape[1] // factor
    out = np.zeros((h, w), np.float32)
    for dy in range(factor):
        for dx in range(factor):
            out += image[dy:h * factor:factor, dx:w * factor:factor]
    return out / np.float32(factor * factor)


def reduce_to_height(image: np.ndarray, max_height: int) -> tuple[np.ndarray, int]:
    """Return `image` [H, W] box-reduced by the smallest integer factor giving height <= max_height, and that factor.

    Images no taller than `max_height` (or smaller than the factor in either side) come back as
    float32 with factor 1.
    """
    factor = max(1, int(np.ceil(image.shape[0] / max_height)))
    if factor == 1 or image.shape[0] < factor or image.shape[1] < factor:
        return image.astype(np.float32, copy=False), 1
    return box_reduce(image, factor), factor


def box_reduce_tensor(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Return `images` [N, C, H, W] box-reduced by `factor` to [N, C, H // factor, W // factor] (factor 1: as is)."""
    return images if factor == 1 else F.avg_pool2d(images, factor)


def chest_wall_side(mask: np.ndarray) -> tuple[Literal["left", "right"], float]:
    """Return the side the chest wall touches and a confidence in [0, 1]: the one chest-wall rule.

    The breast is widest at the chest wall and tapers to the nipple, so the side where the breast
    mask is heavier and touches the edge more wins: each side scores the mask's mean over its edge
    band (1/20 of the width) plus its mean over its half. Confidence = |left - right| / (left + right);
    an empty mask gives ("left", 0.0).

    Args:
        mask: bool [h, w] breast mask in any orientation.
    """
    h, w = mask.shape
    band = max(1, w // 20)
    left = float(mask[:, :band].mean() + mask[:, : w // 2].mean())
    right = float(mask[:, -band:].mean() + mask[:, w - w // 2:].mean())
    confidence = abs(left - right) / (left + right) if left + right > 0 else 0.0
    return ("left" if left >= right else "right"), confidence
