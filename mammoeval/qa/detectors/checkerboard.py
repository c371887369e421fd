"""Checkerboard detector: spectral peaks at the upsampling frequencies inside the breast."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.base import mask_at as _mask_at

_TILE = 64
SMALL_TILE = 32
"""Tile side used when fewer than MIN_TILES 64-px tiles fit inside the breast (images of ~320 rows)."""
MIN_TILES = 8
"""Fewest 64-px tiles for a steady Welch spectrum; with fewer, SMALL_TILE tiles at 50% overlap are used."""


def detect_checkerboard(work: np.ndarray, anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the checkerboard finding: the strongest spectral peak at the upsampling frequencies.

    Score: max over the off-axis harmonic bins (multiples of 1/8 cycle/pixel in both directions,
    i.e. periods 2, 4 and 8 px)
    of log10(power / median power of the surrounding bins) of the Welch spectrum of 64x64 tiles
    inside the breast, divided by 0.8 (a 6x peak reaches 1). When fewer than MIN_TILES such tiles
    fit (a breast of ~300 rows holds 0-5), SMALL_TILE tiles overlapping by half are used instead
    (the same harmonic frequencies at half the frequency resolution), their spectra median-averaged.

    Args:
        work: float32 [H, W] working image, chest wall left.
        anatomy: its anatomy.
        threshold: flag threshold on the score.
    """
    tile = _TILE
    tiles, corners = _breast_tiles(work, anatomy, max_tiles=48)
    if len(tiles) < MIN_TILES:
        small = _breast_tiles(work, anatomy, max_tiles=48, tile=SMALL_TILE, stride=SMALL_TILE // 2)
        if len(small[0]) > len(tiles):
            (tiles, corners), tile = small, SMALL_TILE
    if len(tiles) == 0:
        return _finding("checkerboard", 0.0, threshold, "")
    win = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    stack = np.stack(tiles)
    stack = (stack - stack.mean(axis=(1, 2), keepdims=True)) * win
    power = np.abs(np.fft.fft2(stack)) ** 2
    # Many overlapping small tiles: a median over tiles ignores texture confined to a part of the
    # breast (striated muscle); a generator's imprint covers all of it.
    spectrum = np.median(power, axis=0) if tile == SMALL_TILE else power.mean(axis=0)
    ratios = _harmonic_ratios(spectrum + 1e-20)
    score = float(max(0.0, ratios.max()) / 0.8)
    bins = _harmonic_mask(tile)
    per_tile = power[:, bins].sum(axis=1) / (power.sum(axis=(1, 2)) + 1e-20)
    heat = _tile_heatmap(per_tile / max(float(per_tile.max()), 1e-12), corners, tile, anatomy)
    return _finding("checkerboard", score, threshold, "periodic upsampling pattern", heat)


def _harmonic_mask(tile: int = _TILE) -> np.ndarray:
    """Return bool [tile, tile] (unshifted FFT layout) marking the off-axis harmonic bins (periods 2, 4, 8 px)."""
    m = np.zeros((tile, tile), bool)
    m[::tile // 8, ::tile // 8] = True
    m[0, :] = False
    m[:, 0] = False
    return m


def _harmonic_ratios(power: np.ndarray) -> np.ndarray:
    """Return log10(peak / neighbourhood median) at every off-axis harmonic bin of a square power spectrum.

    Only bins with both frequencies non-zero count: upsampling in a generator repeats a 2-D kernel,
    which puts energy off the axes, whereas scanner lines and anti-scatter grids are 1-D patterns
    whose energy lies on an axis.
    """
    logp = np.log10(power)
    tile = power.shape[0]
    ys, xs = np.nonzero(_harmonic_mask(tile))
    offs = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if max(abs(dy), abs(dx)) >= 2]
    neigh = np.stack([logp[(ys + dy) % tile, (xs + dx) % tile] for dy, dx in offs])
    return logp[ys, xs] - np.median(neigh, axis=0)


def _breast_tiles(work: np.ndarray, anatomy: Anatomy, *, max_tiles: int, tile: int = _TILE,
                  stride: int | None = None) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Return up to max_tiles tile x tile tiles (corners `stride` px apart, default `tile`) of the working
    image lying fully inside the breast without the pectoral muscle (striated muscle fibres are a
    periodic, off-axis texture), and their corners."""
    breast = anatomy.mask & ~anatomy.pectoral_mask if anatomy.pectoral_mask.shape == anatomy.mask.shape else anatomy.mask
    mask = _mask_at(breast, work.shape, 1.0 / anatomy.factor)
    inner = ndi.binary_erosion(mask, iterations=2, border_value=0) if mask.any() else mask
    h, w = work.shape
    step = tile if stride is None else stride
    corners = [(y, x) for y in range(0, h - tile + 1, step) for x in range(0, w - tile + 1, step)
               if inner[y:y + tile, x:x + tile].all()]
    if len(corners) > max_tiles:
        keep = np.linspace(0, len(corners) - 1, max_tiles).round().astype(int)
        corners = [corners[i] for i in keep]
    return [work[y:y + tile, x:x + tile] for y, x in corners], corners


def _tile_heatmap(values: np.ndarray, corners: list[tuple[int, int]], tile: int, anatomy: Anatomy) -> np.ndarray:
    """Return a coarse float32 map holding each tile's value over the tile's area."""
    heat = np.zeros(anatomy.mask.shape, np.float32)
    f = anatomy.factor
    for v, (y, x) in zip(values, corners, strict=True):
        cell = heat[y // f:(y + tile) // f, x // f:(x + tile) // f]
        np.maximum(cell, max(0.0, float(v)), out=cell)
    return heat




def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_checkerboard(work, required(anatomy))


DETECTOR = FunctionDetector("checkerboard", _score)
