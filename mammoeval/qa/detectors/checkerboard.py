"""Checkerboard detector: spectral peaks at the upsampling frequencies inside the breast."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.base import mask_at as _mask_at

_TILE = 64
_HARMONIC_STEP = _TILE // 8  # bins of the periods 2, 4 and 8 px in a 64-point FFT


def detect_checkerboard(work: np.ndarray, anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the checkerboard finding: the strongest spectral peak at the upsampling frequencies.

    Score: max over the off-axis harmonic bins (multiples of 1/8 cycle/pixel in both directions,
    i.e. periods 2, 4 and 8 px)
    of log10(power / median power of the surrounding bins) of the Welch spectrum of 64x64 tiles
    inside the breast, divided by 0.8 (a 6x peak reaches 1).

    Args:
        work: float32 [H, W] working image, chest wall left.
        anatomy: its anatomy.
        threshold: flag threshold on the score.
    """
    tiles, corners = _breast_tiles(work, anatomy, max_tiles=48)
    if len(tiles) == 0:
        return _finding("checkerboard", 0.0, threshold, "")
    win = np.outer(np.hanning(_TILE), np.hanning(_TILE)).astype(np.float32)
    stack = np.stack(tiles)
    stack = (stack - stack.mean(axis=(1, 2), keepdims=True)) * win
    power = np.abs(np.fft.fft2(stack)) ** 2
    ratios = _harmonic_ratios(power.mean(axis=0) + 1e-20)
    score = float(max(0.0, ratios.max()) / 0.8)
    bins = _harmonic_mask()
    per_tile = power[:, bins].sum(axis=1) / (power.sum(axis=(1, 2)) + 1e-20)
    heat = _tile_heatmap(per_tile / max(float(per_tile.max()), 1e-12), corners, work.shape, anatomy)
    return _finding("checkerboard", score, threshold, "periodic upsampling pattern", heat)


def _harmonic_mask() -> np.ndarray:
    """Return bool [64, 64] (unshifted FFT layout) marking the off-axis harmonic bins."""
    m = np.zeros((_TILE, _TILE), bool)
    m[::_HARMONIC_STEP, ::_HARMONIC_STEP] = True
    m[0, :] = False
    m[:, 0] = False
    return m


def _harmonic_ratios(power: np.ndarray) -> np.ndarray:
    """Return log10(peak / neighbourhood median) at every off-axis harmonic bin of a 64x64 power spectrum.

    Only bins with both frequencies non-zero count: upsampling in a generator repeats a 2-D kernel,
    which puts energy off the axes, whereas scanner lines and anti-scatter grids are 1-D patterns
    whose energy lies on an axis.
    """
    logp = np.log10(power)
    ys, xs = np.nonzero(_harmonic_mask())
    offs = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if max(abs(dy), abs(dx)) >= 2]
    neigh = np.stack([logp[(ys + dy) % _TILE, (xs + dx) % _TILE] for dy, dx in offs])
    return logp[ys, xs] - np.median(neigh, axis=0)


def _breast_tiles(work: np.ndarray, anatomy: Anatomy, *, max_tiles: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Return up to max_tiles 64x64 tiles of the working image lying fully inside the breast, and their corners."""
    mask = _mask_at(anatomy.mask, work.shape, 1.0 / anatomy.factor)
    inner = ndi.binary_erosion(mask, iterations=2, border_value=0) if mask.any() else mask
    h, w = work.shape
    corners = [(y, x) for y in range(0, h - _TILE + 1, _TILE) for x in range(0, w - _TILE + 1, _TILE)
               if inner[y:y + _TILE, x:x + _TILE].all()]
    if len(corners) > max_tiles:
        keep = np.linspace(0, len(corners) - 1, max_tiles).round().astype(int)
        corners = [corners[i] for i in keep]
    return [work[y:y + _TILE, x:x + _TILE] for y, x in corners], corners


def _tile_heatmap(values: np.ndarray, corners: list[tuple[int, int]], shape: tuple[int, ...],
                  anatomy: Anatomy) -> np.ndarray:
    """Return a coarse float32 map holding each tile's value over the tile's area."""
    heat = np.zeros(anatomy.mask.shape, np.float32)
    f = anatomy.factor
    for v, (y, x) in zip(values, corners, strict=True):
        heat[y // f:(y + _TILE) // f, x // f:(x + _TILE) // f] = max(0.0, float(v))
    return heat




def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_checkerboard(work, required(anatomy))


DETECTOR = FunctionDetector("checkerboard", _score)
