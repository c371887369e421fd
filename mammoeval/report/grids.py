"""Image assets for the report: PNG thumbnails and full-resolution files, heatmap overlays, grids.

Every image the report shows is written twice into ``OUT/assets/``: a small thumbnail (what the page
displays) and the full-resolution 8-bit grey PNG (what the thumbnail links to), so that mammograms
can be read at their native resolution while the page itself stays light.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mammoeval.core.fsutil import write_bytes_atomic

THUMB_MAX_HEIGHT = 200
"""Thumbnails are box-reduced to at most this many pixels high (smaller images are kept as they are)."""


@dataclass(frozen=True)
class Asset:
    """One image written into the report's assets folder.

    Attributes:
        thumb: path of the thumbnail, relative to the report folder (POSIX separators).
        full: path of the full-resolution image, relative to the report folder.
        height, width: full-resolution size in pixels.
    """

    thumb: str
    full: str
    height: int
    width: int


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return a float image in [0, 1] (NaN -> 0, values clipped) as uint8 [H, W]."""
    a = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """Return PNG bytes of a uint8 grey [H, W] or RGB [H, W, 3] array."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def thumbnail(pixels: np.ndarray, *, max_height: int = THUMB_MAX_HEIGHT) -> np.ndarray:
    """Return `pixels` (uint8 [H, W] or [H, W, 3]) reduced with a box filter to at most `max_height` rows."""
    h, w = pixels.shape[:2]
    if h <= max_height:
        return pixels
    new_w = max(1, round(w * max_height / h))
    return np.asarray(Image.fromarray(pixels).resize((new_w, max_height), Image.Resampling.BOX))


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Return an RGB uint8 [H, W, 3] picture of a grey image with a heatmap blended over it in red.

    Args:
        image: float [H, W] in [0, 1].
        heatmap: float [h, w], any size (nearest-resized to [H, W]); normalised by its own maximum.
        alpha: opacity of the heatmap where it is at its maximum.
    """
    grey = to_uint8(image).astype(np.float32)
    hm = np.nan_to_num(np.asarray(heatmap, dtype=np.float32))
    hm = np.clip(hm, 0.0, None)
    top = float(hm.max()) if hm.size else 0.0
    hm = hm / top if top > 0 else np.zeros_like(hm)
    if hm.shape != grey.shape:
        hm = np.asarray(Image.fromarray(hm).resize((grey.shape[1], grey.shape[0]), Image.Resampling.BILINEAR))
    a = alpha * np.clip(hm, 0.0, 1.0)
    red = np.array([255.0, 40.0, 0.0], dtype=np.float32)
    rgb = grey[..., None] * (1.0 - a[..., None]) + red * a[..., None]
    return np.rint(rgb).astype(np.uint8)


def write_asset(assets_dir: Path, name: str, pixels: np.ndarray, *, report_dir: Path) -> Asset:
    """Write `name`.png (full resolution) and `name`.thumb.png into `assets_dir`; return their relative paths.

    Args:
        assets_dir: folder under `report_dir`.
        name: file-name-safe stem (callers build it from counters, never from user strings).
        pixels: uint8 [H, W] grey or [H, W, 3] RGB.
        report_dir: the report folder the returned paths are relative to.
    """
    full = assets_dir / f"{name}.png"
    thumb = assets_dir / f"{name}.thumb.png"
    write_bytes_atomic(full, encode_png(pixels))
    write_bytes_atomic(thumb, encode_png(thumbnail(pixels)))
    return Asset(thumb=thumb.relative_to(report_dir).as_posix(), full=full.relative_to(report_dir).as_posix(),
                 height=int(pixels.shape[0]), width=int(pixels.shape[1]))


def tile_grid(images: Sequence[np.ndarray], *, cols: int, gap: int = 2) -> np.ndarray:
    """Return the images (float [H, W] in [0, 1], same size) tiled row-major into one uint8 grid.

    Missing cells of the last row stay black; `gap` pixels of mid-grey separate the cells.
    """
    if not images:
        raise ValueError("tile_grid needs at least one image")
    h, w = images[0].shape
    rows = -(-len(images) // cols)
    grid = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), 128, dtype=np.uint8)
    for i, img in enumerate(images):
        if img.shape != (h, w):
            raise ValueError(f"tile_grid: image {i} is {img.shape}, expected {(h, w)}")
        r, c = divmod(i, cols)
        grid[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = to_uint8(img)
    return grid
