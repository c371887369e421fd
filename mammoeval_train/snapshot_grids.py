"""Image grids for the run directory: CC rows first, then MLO rows, 8-bit grey PNG, written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mammoeval.core.fsutil import write_bytes_atomic

GAP_PX = 2
GAP_VALUE = 96  # mid grey, so tiles stay apart on black backgrounds


def tile_grid(images: torch.Tensor, *, cols: int, tile: tuple[int, int]) -> np.ndarray:
    """Return a uint8 [rows*(h+gap)-gap, cols*(w+gap)-gap] mosaic of images [N, 1, H, W] in [0, 1],
    each upsampled (nearest) to `tile` = (h, w), filled row by row."""
    n = images.shape[0]
    h, w = tile
    big = F.interpolate(images.float(), size=(h, w), mode="nearest") if images.shape[-2:] != (h, w) else images
    rows = max(1, -(-n // cols))
    out = np.full((rows * (h + GAP_PX) - GAP_PX, cols * (w + GAP_PX) - GAP_PX), GAP_VALUE, dtype=np.uint8)
    arr = np.rint(big[:, 0].clamp(0, 1).cpu().numpy() * 255.0).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + GAP_PX):r * (h + GAP_PX) + h, c * (w + GAP_PX):c * (w + GAP_PX) + w] = arr[i]
    return out


def write_view_grid(path: Path, cc: torch.Tensor, mlo: torch.Tensor, *, cols: int, tile: tuple[int, int]) -> None:
    """Write a PNG: the CC images [n, 1, H, W] in rows, then the MLO images in rows below."""
    parts = [tile_grid(x, cols=cols, tile=tile) for x in (cc, mlo) if x.shape[0]]
    sep = np.full((GAP_PX * 2, parts[0].shape[1]), GAP_VALUE, dtype=np.uint8)
    mosaic = parts[0] if len(parts) == 1 else np.concatenate([parts[0], sep, parts[1]])
    buf = io.BytesIO()
    Image.fromarray(mosaic, mode="L").save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())
