"""Top-hat contrast baselines of the calcification detector, for comparison in benchmarks/qa_calcs.py.

Not production code: `mammoeval.qa.calcifications.detect_calcifications` (the spot-strength test)
is the detector. The baselines threshold the white top-hat (grey level minus a grey opening):

- "global": one bar per image, max(min_contrast, noise_k x noise, texture_k x the breast's 90th
  top-hat percentile) (`TOPHAT_GLOBAL`);
- "local": the top-hat against its own statistics in `block_px` blocks around each pixel (median +
  local_k x robust spread), capped at the global bar (`TOPHAT_LOCAL`).

Both then keep round local maxima measured as the detector measures spots. Both miss most spots in
dense texture (reports/qa_calcs.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.artifacts import _mask_at
from mammoeval.qa.calcifications import (
    Calc,
    CalcConfig,
    _binomial_blur,
    _blobness_at,
    _dedupe,
    _local_maxima,
    _measure,
    _near_skin,
    _opening,
    assign_clusters,
)


@dataclass(frozen=True)
class TophatConfig:
    """Settings of a top-hat baseline.

    Attributes:
        mode: "global" (one bar per image) or "local" (block z-score, capped at the global bar).
        calc: the detector settings the baseline shares (opening, contrast floor, size and shape tests).
        noise_k: the peak must also exceed noise_k x the local noise (robust std of the fine residual).
        texture_k: the global bar: texture_k x the 90th percentile of the top-hat in the whole breast.
        block_px: "local": side of the blocks (working pixels) of the local top-hat median and spread,
            interpolated bilinearly back to every pixel.
        local_k: "local": the peak must exceed the local median + local_k x the local spread
            (1.4826 x median absolute deviation of the top-hat).
    """

    mode: Literal["global", "local"] = "global"
    calc: CalcConfig = field(default_factory=CalcConfig)
    noise_k: float = 6.0
    texture_k: float = 4.0
    block_px: int = 16
    local_k: float = 10.0


TOPHAT_GLOBAL = TophatConfig("global", CalcConfig(min_contrast=0.08, max_diameter_px=4.6))
"""The global top-hat baseline (one top-hat bar per image): misses most spots in dense texture."""
TOPHAT_LOCAL = TophatConfig("local")
"""The local top-hat baseline (block z-score of the top-hat)."""


def detect_tophat(work: np.ndarray, anatomy: Anatomy, *, config: TophatConfig = TOPHAT_GLOBAL) -> list[Calc]:
    """Return the calcifications a top-hat baseline finds in a working image, with cluster indices.

    Args:
        work: float32 [H, W] in [0, 1], chest wall left.
        anatomy: its anatomy (breast mask).
        config: baseline settings.
    """
    calc = config.calc
    inner = _search_mask(work.shape, anatomy, calc)
    if inner.sum() < 50:
        return []
    near_skin = _near_skin(anatomy, work.shape, calc)
    return assign_clusters(_dedupe(_detect(work, inner, near_skin, config)),
                           distance_px=calc.cluster_distance_frac * work.shape[0], min_size=calc.min_cluster_size)


def _search_mask(shape: tuple[int, int], anatomy: Anatomy, calc: CalcConfig) -> np.ndarray:
    """Return bool [H, W]: the breast pixels searched (off the skin margin and the pectoral muscle)."""
    cm = max(1, int(np.ceil(calc.skin_margin_frac * anatomy.mask.shape[1])))
    padded = np.pad(anatomy.mask, ((cm + 1, cm + 1), (cm + 1, 0)), mode="edge")
    inner_coarse = ndi.binary_erosion(padded, iterations=cm, border_value=0)[cm + 1:-cm - 1, cm + 1:]
    inner_coarse &= ~anatomy.pectoral_mask
    return _mask_at(inner_coarse, shape, 1.0 / anatomy.factor)


def _detect(work: np.ndarray, inner: np.ndarray, near_skin: np.ndarray, config: TophatConfig) -> list[Calc]:
    """Return the detections of the top-hat contrast test, before dedupe."""
    calc = config.calc
    opened = _opening(work, calc.opening_px)
    tophat = work - opened
    smooth = _binomial_blur(work)
    ys, xs = np.nonzero(inner)
    step = max(1, ys.size // 50_000)
    ys, xs = ys[::step], xs[::step]
    resid = work[ys, xs] - smooth[ys, xs]
    noise = float(1.4826 * np.median(np.abs(resid - np.median(resid))))
    texture = float(np.percentile(tophat[ys, xs], 90))
    floor = max(calc.min_contrast, config.noise_k * noise)
    if config.mode == "global":
        thr: float | np.ndarray = max(floor, config.texture_k * texture)
    else:
        # Local bar, never above the global one: a spot that clears the global bar still does.
        thr = np.maximum(floor, np.minimum(_local_threshold(tophat, inner, config), config.texture_k * texture))
    ys, xs = np.nonzero((tophat >= thr) & inner)
    ys, xs = _local_maxima(tophat, ys, xs)
    # Round at either spot scale (sigma ~1 and ~1.4 px): a flat-topped (clipped) 4-px disc is only
    # peaked at the coarser one.
    blob = np.maximum(np.maximum(_blobness_at(smooth, ys, xs), _blobness_at(_binomial_blur(smooth), ys, xs)),
                      _blobness_at(work, ys, xs))
    keep = blob >= calc.min_blobness
    return [c for c in (_measure(work, opened, y, x, bool(near_skin[y, x]), calc)
                        for y, x in zip(ys[keep], xs[keep], strict=True)) if c is not None]


def _local_threshold(tophat: np.ndarray, inner: np.ndarray, config: TophatConfig) -> np.ndarray:
    """Return float32 [H, W]: local median + local_k x local robust spread of the top-hat.

    Statistics per `block_px` block over the breast pixels (on every other pixel, for speed); blocks
    with under a quarter of their pixels in the breast take the values of the nearest full block;
    the block grid is interpolated bilinearly to every pixel.

    Args:
        tophat: float32 [H, W] white top-hat of the working image.
        inner: bool [H, W] breast pixels searched.
        config: baseline settings (block_px, local_k).
    """
    h, w = tophat.shape
    b = max(2, config.block_px // 2)
    t, m = tophat[::2, ::2], inner[::2, ::2]
    ny, nx = -(-t.shape[0] // b), -(-t.shape[1] // b)
    vals = np.full((ny * b, nx * b), np.nan, np.float32)
    vals[:t.shape[0], :t.shape[1]] = np.where(m, t, np.nan)
    blocks = np.sort(vals.reshape(ny, b, nx, b).transpose(0, 2, 1, 3).reshape(ny, nx, b * b), axis=-1)
    n = np.isfinite(blocks).sum(-1)
    valid = n >= b * b // 4
    if not valid.any():
        return np.full((h, w), np.inf, np.float32)
    idx = lambda q: np.clip((q * (n - 1)).astype(int), 0, b * b - 1)[..., None]  # noqa: E731
    med = np.take_along_axis(blocks, idx(0.5), -1)[..., 0]
    dev = np.sort(np.abs(blocks - med[..., None]), axis=-1)
    grid = med + config.local_k * 1.4826 * np.take_along_axis(dev, idx(0.5), -1)[..., 0]
    near = ndi.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    grid = grid[near[0], near[1]].astype(np.float32)
    return _interp_matrix(h, ny, config.block_px) @ grid @ _interp_matrix(w, nx, config.block_px).T


def _interp_matrix(n: int, cells: int, cell_px: int) -> np.ndarray:
    """Return float32 [n, cells]: bilinear weights from cell centres (cell_px apart) to n pixel centres."""
    pos = np.clip((np.arange(n) + 0.5) / cell_px - 0.5, 0, cells - 1)
    lo = np.minimum(pos.astype(int), max(cells - 2, 0))
    frac = pos - lo
    out = np.zeros((n, cells), np.float32)
    out[np.arange(n), lo] = 1 - frac
    if cells > 1:
        out[np.arange(n), lo + 1] += frac
    return out
