"""Repeated-tile / copy-paste texture detector: isolated off-origin peaks of the local autocorrelation.

A generator that copies texture leaves the same fine texture at two or more places a fixed
displacement apart (periodic tiles repeat it at the tile period). The fine texture of clean
tissue is not self-similar: its autocorrelation falls to about 0 a few pixels from the origin,
except along straight 1-D structures (vessels, ligaments, skin line, film edges), where it forms
a ridge along the structure's direction.

Method, on the working image reduced to at most ANALYSIS_HEIGHT rows:
1. fine texture = image minus its Gaussian blur (sigma FINE_SIGMA px), clipped to +-CLIP_SPREAD
   robust spreads (calcification clusters and markers must not dominate);
2. square windows of WINDOW px (stride WINDOW / 2) with >= MIN_INSIDE of their pixels in the
   eroded breast, without the chest-wall band (film edge) and the pectoral muscle (striated);
3. per window, the autocorrelation via FFT (zero-padded, no wrap-around), normalised to a
   correlation coefficient per lag: A(d) / A(0) x pairs(0) / pairs(d), pairs = overlapping
   breast pixel pairs (lags with fewer than MIN_OVERLAP x the window area are skipped);
4. peak isolation: at each lag, the coefficient minus the largest coefficient on a ring of radius
   RING_INNER..RING_OUTER px around that lag. A ridge from a 1-D structure crosses the ring and
   cancels itself; the isolated peak of a repeat does not;
5. window evidence = the largest isolated peak at lags from MIN_LAG to WINDOW / 2 px (Chebyshev),
   / PEAK_LIMIT;
6. verification: for the N_VERIFIED_LAGS strongest lags of the N_VERIFIED_WINDOWS strongest windows,
   block NCC between the texture and itself one lag away (`compute_matched_area`); a compact
   matched region of AREA_LIMIT x the window area also reaches 1 (a copy-paste that fills only
   part of a window gives a weak peak but a clean matched region).

Score = the largest window evidence (>= 1 flags); heatmap = window evidence painted over each
window on the anatomy's coarse grid (maximum where windows overlap).

Thresholds were set on the even-indexed real-dev files and the phantoms (benchmarks/qa_repeats.py,
reports/qa_repeats.md): clean scores stay at about half the threshold or below.

Limits: repeats further apart than WINDOW / 2 px at the analysis resolution (copy-pastes to distant
places, tiles with a period over about a quarter of the height) are not seen, nor repeats in
regions smaller than about half a window.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import scipy.fft
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import Anatomy, reduce_to_height
from mammoeval.qa.artifacts import Finding, _finding, _mask_at

ANALYSIS_HEIGHT: Final = 640
"""Largest height (px) of the image the texture is analysed on (the working image is box-reduced by an
integer factor to at most this height)."""
WINDOW: Final = 128
"""Side (px at the analysis resolution) of the autocorrelation windows; 64 when the analysis image is
under SMALL_HEIGHT rows."""
SMALL_HEIGHT: Final = 384
"""Analysis images under this height use windows of WINDOW / 2 px."""
FINE_SIGMA: Final = 1.0
"""Gaussian sigma (px) of the blur removed to keep the fine texture."""
CLIP_SPREAD: Final = 2.5
"""The fine texture is clipped to its median +- this many robust spreads (see _clipped_fine_texture)."""
MIN_LAG: Final = 4
"""Smallest lag (px, Chebyshev) searched: the central lobe of the texture's own correlation ends before it."""
RING_INNER: Final = 3
RING_OUTER: Final = 5
"""Radii (px) of the ring around each lag whose largest coefficient is subtracted (peak isolation)."""
MIN_INSIDE: Final = 0.5
"""Share of a window's pixels that must lie in the breast interior for the window to count."""
MIN_OVERLAP: Final = 0.3
"""Smallest number of overlapping region pixel pairs at a lag, as a share of the window area, for the lag to count."""
N_CANDIDATES: Final = 32
"""Lags per window (the largest coefficients) on which the ring test is run."""
PEAK_LIMIT: Final = 0.25
"""Isolated autocorrelation peak that reaches the repeats threshold (see benchmarks/qa_repeats.py)."""
N_VERIFIED_WINDOWS: Final = 4
N_VERIFIED_LAGS: Final = 3
"""Block verification runs on the lags with the strongest isolated peaks of the windows with the strongest peaks."""
BLOCK_DIVISOR: Final = 8
"""Verification blocks are window side / BLOCK_DIVISOR px square (8 px in a 64-px window)."""
MATCH_NCC: Final = 0.9
"""Local normalised cross-correlation at which a block counts as a copy of the block one lag away."""
FLAT_SHARE: Final = 0.25
"""Blocks with local variance under this share of the window's median are flat and never count."""
MIN_TEXTURE_STD: Final = 0.002
"""Blocks whose fine texture has a standard deviation under this (grey levels; half an 8-bit step) are
flat and never count: smooth regions match themselves at any lag."""
AREA_LIMIT: Final = 0.06
"""Matched block positions, as a share of the window area, that reach the repeats threshold."""


def detect_repeats(work: np.ndarray, anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the repeated-texture finding: the strongest isolated off-origin local autocorrelation peak.

    Args:
        work: float32 [H, W] working image in [0, 1], chest wall left.
        anatomy: its anatomy (breast mask on the coarse grid).
        threshold: flag threshold on the score (score = the largest window evidence: isolated peak /
            PEAK_LIMIT, or verified matched area / (AREA_LIMIT x window area), whichever is larger).
    """
    small, f = reduce_to_height(work, ANALYSIS_HEIGHT)
    win = WINDOW if small.shape[0] >= SMALL_HEIGHT else WINDOW // 2
    inner = _interior(anatomy, small.shape, f)
    corners = _window_corners(inner, win)
    heat = np.zeros(anatomy.mask.shape, np.float32)
    if not corners:
        return _finding("repeats", 0.0, threshold, "", heat)
    fine = _clipped_fine_texture(small, inner)
    stack = np.stack([fine[y:y + win, x:x + win] for y, x in corners])
    masks = np.stack([inner[y:y + win, x:x + win] for y, x in corners])
    evidence = _window_evidence(stack, masks)
    scale = f / anatomy.factor  # analysis px -> coarse px
    for v, (y, x) in zip(evidence, corners, strict=True):
        sl = (slice(int(y * scale), int(np.ceil((y + win) * scale))), slice(int(x * scale), int(np.ceil((x + win) * scale))))
        heat[sl] = np.maximum(heat[sl], max(0.0, float(v)))
    return _finding("repeats", float(evidence.max()), threshold, "repeated texture", heat)


def _window_evidence(stack: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Return float [n]: per window, max(isolated peak / PEAK_LIMIT, verified matched area / (AREA_LIMIT s^2))."""
    s = stack.shape[-1]
    isolated, lags = _isolated_peaks(stack, masks)
    evidence = isolated.max(axis=1) / PEAK_LIMIT
    for i in np.argsort(-evidence)[:N_VERIFIED_WINDOWS]:
        for j in np.argsort(-isolated[i])[:N_VERIFIED_LAGS]:
            area = compute_matched_area(stack[i], masks[i], (int(lags[i, j, 0]), int(lags[i, j, 1])))
            evidence[i] = max(evidence[i], area / (AREA_LIMIT * s * s))
    return evidence


def compute_matched_area(window: np.ndarray, mask: np.ndarray, lag: tuple[int, int]) -> int:
    """Return the size of the largest connected set of block positions whose block matches the block `lag`
    away (local NCC >= MATCH_NCC): a copy is one compact region, chance matches of clean texture are scattered.

    Blocks are square, side window side / BLOCK_DIVISOR, lie fully in the mask at both ends and are
    not flat at either end (local variance >= FLAT_SHARE x the window's median local variance and
    >= MIN_TEXTURE_STD^2).

    Args:
        window: float [s, s] texture window.
        mask: bool [s, s] region of interest.
        lag: (dy, dx) displacement in px.
    """
    s = window.shape[0]
    dy, dx = lag
    ya, yb, xa, xb = max(0, -dy), max(0, dy), max(0, -dx), max(0, dx)
    h, w = s - abs(dy), s - abs(dx)
    a, b = window[ya:ya + h, xa:xa + w].astype(np.float32), window[yb:yb + h, xb:xb + w].astype(np.float32)
    both = (mask[ya:ya + h, xa:xa + w] & mask[yb:yb + h, xb:xb + w]).astype(np.float32)
    size = max(4, s // BLOCK_DIVISOR)
    box = lambda v: ndi.uniform_filter(v, size=size, mode="constant")  # noqa: E731
    ma, mb = box(a), box(b)
    va, vb = box(a * a) - ma * ma, box(b * b) - mb * mb
    cov = box(a * b) - ma * mb
    inside = box(both) > 0.99
    if not inside.any():
        return 0
    floor = max(FLAT_SHARE * float(np.median(np.concatenate([va[inside], vb[inside]]))), MIN_TEXTURE_STD ** 2)
    ok = inside & (va > floor) & (vb > floor)
    ncc = cov / np.sqrt(np.maximum(va * vb, 1e-20))
    matched = ok & (ncc >= MATCH_NCC)
    if not matched.any():
        return 0
    labels, _ = ndi.label(matched)
    return int(np.bincount(labels.ravel())[1:].max())


def compute_isolated_peaks(windows: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Return float [n]: per window, the largest isolated autocorrelation coefficient at lags MIN_LAG..side/2.

    Args:
        windows: float [n, s, s] texture windows.
        masks: bool [n, s, s] which pixels of each window belong to the region of interest.
    """
    return _isolated_peaks(windows, masks)[0].max(axis=1)


def _isolated_peaks(windows: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (float [n, k] isolated coefficients >= 0, int [n, k, 2] their lags (dy, dx)) of the k strongest lags."""
    n, s, _ = windows.shape
    half = s // 2
    coef = _lag_coefficients(windows, masks, half)
    lag = np.abs(np.arange(-half, half + 1))
    near = (lag[:, None] < MIN_LAG) & (lag[None, :] < MIN_LAG)
    flat = np.where(np.isnan(coef) | near[None], -np.inf, coef).reshape(n, -1)
    k = min(N_CANDIDATES, flat.shape[1])
    cand = np.argpartition(flat, -k, axis=1)[:, -k:]  # the strongest lags; only they need the ring test
    side = 2 * half + 1
    r = RING_OUTER
    padded = np.pad(np.nan_to_num(coef, nan=0.0), ((0, 0), (r, r), (r, r)))
    cy, cx = cand // side + r, cand % side + r
    rows = np.arange(n)[:, None]
    around = np.zeros(cand.shape, np.float32)
    for dy, dx in zip(*np.nonzero(_ring_footprint()), strict=True):
        np.maximum(around, padded[rows, cy + dy - r, cx + dx - r], out=around)
    isolated = np.maximum(np.take_along_axis(flat, cand, axis=1) - around, 0.0)
    return isolated, np.stack([cand // side - half, cand % side - half], axis=-1)


def _lag_coefficients(windows: np.ndarray, masks: np.ndarray, half: int) -> np.ndarray:
    """Return float32 [n, 2 half + 1, 2 half + 1]: autocorrelation coefficient per lag (-half..half); NaN where
    fewer than MIN_OVERLAP x s^2 pixel pairs of the region overlap at that lag.

    The coefficient is sum(b(x) b(x + d)) / (sum(b^2) x pairs(d) / pairs(0)) over the region's pixels
    (b: the texture minus its mean over the region): a correlation coefficient for texture of
    uniform variance, exact for a window fully inside the region.
    """
    n, s, _ = windows.shape
    m = masks.astype(np.float32)
    x = windows * m
    x -= m * (x.sum(axis=(1, 2), keepdims=True) / np.maximum(m.sum(axis=(1, 2), keepdims=True), 1.0))
    shape = (s + half, s + half)  # enough zero padding that lags up to `half` do not wrap around
    auto = _autocorrelation(x, shape, half)
    full = masks.all(axis=(1, 2))
    pairs = np.empty_like(auto)
    pairs[full] = _autocorrelation(np.ones((1, s, s), np.float32), shape, half)
    if not full.all():
        pairs[~full] = _autocorrelation(m[~full], shape, half)
    zero = auto[:, half, half][:, None, None]
    coef = auto / np.maximum(zero, 1e-12) * (pairs[:, half, half][:, None, None] / np.maximum(pairs, 1.0))
    return np.where(pairs >= MIN_OVERLAP * s * s, coef, np.nan).astype(np.float32)


def _autocorrelation(x: np.ndarray, shape: tuple[int, int], half: int) -> np.ndarray:
    """Return float [n, 2 half + 1, 2 half + 1]: the linear (zero-padded to `shape`) autocorrelation at lags -half..half."""
    spec = scipy.fft.rfft2(x, s=shape, workers=1)
    auto = scipy.fft.irfft2(spec * np.conj(spec), s=shape, workers=1)
    idx = np.r_[shape[0] - half:shape[0], 0:half + 1]
    return auto[:, idx][:, :, idx]


def _clipped_fine_texture(small: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Return float32 [h, w]: image minus its blur (sigma FINE_SIGMA), clipped to +-CLIP_SPREAD robust spreads.

    Clipping keeps sparse bright or dark details (calcifications, markers, dust) from dominating
    a window's autocorrelation: a cluster of similar dots would otherwise give isolated peaks at
    their spacings. The robust spread (1.4826 x MAD) is measured inside the breast interior.
    """
    fine = small - ndi.gaussian_filter(small, FINE_SIGMA)
    vals = fine[inner]
    if vals.size == 0:
        return fine
    centre = float(np.median(vals))
    spread = max(1.4826 * float(np.median(np.abs(vals - centre))), 1e-6)
    return np.clip(fine, centre - CLIP_SPREAD * spread, centre + CLIP_SPREAD * spread)


def _ring_footprint() -> np.ndarray:
    """Return bool [2 RING_OUTER + 1, 2 RING_OUTER + 1]: the annulus RING_INNER <= radius <= RING_OUTER."""
    yy, xx = np.mgrid[-RING_OUTER:RING_OUTER + 1, -RING_OUTER:RING_OUTER + 1]
    r = np.hypot(yy, xx)
    return (r >= RING_INNER) & (r <= RING_OUTER)


def _interior(anatomy: Anatomy, shape: tuple[int, ...], factor: int) -> np.ndarray:
    """Return bool [h, w] at the analysis resolution: the eroded breast without the chest-wall band and the pectoral muscle."""
    coarse = anatomy.mask
    if coarse.any():  # erode on the coarse grid (cheap), by about 2% of the width
        coarse = ndi.binary_erosion(coarse, iterations=max(1, round(0.02 * coarse.shape[1])), border_value=0)
    if anatomy.pectoral_present and anatomy.pectoral_mask.shape == coarse.shape:
        # striated muscle: parallel fibres match themselves along their direction
        coarse = coarse & ~ndi.binary_dilation(anatomy.pectoral_mask, iterations=2)
    inner = _mask_at(coarse, shape, factor / anatomy.factor)
    inner[:, : max(2, int(0.05 * shape[1]))] = False
    return inner


def _window_corners(inner: np.ndarray, win: int) -> list[tuple[int, int]]:
    """Return the top-left corners (stride win / 2) of the windows with >= MIN_INSIDE of their pixels in `inner`."""
    h, w = inner.shape
    if h < win or w < win:
        return []
    step = win // 2
    return [(y, x) for y in range(0, h - win + 1, step) for x in range(0, w - win + 1, step)
            if inner[y:y + win, x:x + win].mean() >= MIN_INSIDE]
