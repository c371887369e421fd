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

from mammoeval.qa.anatomy import Anatomy, box_reduce, reduce_to_height
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
GLOBAL_FLATTEN: Final = 24
"""Spectral flattening: the power spectrum is divided by its moving average over (padded size / this) bins per axis."""
GLOBAL_MIN_LAG: Final = 12
"""Smallest displacement (px, Chebyshev) the global search considers (shorter ones are the windows' job)."""
GLOBAL_MIN_PAIRS: Final = 0.05
"""Displacements at which fewer pixel pairs of the interior overlap than this share of its size are skipped."""
GLOBAL_MIN_PIXELS: Final = 2000
"""Interiors with fewer pixels than this skip the global search."""
N_GLOBAL: Final = 16
"""Global autocorrelation peaks verified per image."""
GLOBAL_MIN_Z: Final = 3.0
"""Global peaks under this many noise units are not verified."""
LOCATE_DIVISOR: Final = 4
"""The copy of a global candidate is located with blocks of window side / this px."""
GLOBAL_AREA_LIMIT: Final = 0.03
"""Matched block positions of a global candidate, as a share of the window area, that reach the repeats threshold."""


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
    fine = _clipped_fine_texture(small, inner)
    scale = f / anatomy.factor  # analysis px -> coarse px
    score = 0.0
    if corners:
        stack = np.stack([fine[y:y + win, x:x + win] for y, x in corners])
        masks = np.stack([inner[y:y + win, x:x + win] for y, x in corners])
        evidence = _window_evidence(stack, masks)
        for v, (y, x) in zip(evidence, corners, strict=True):
            _paint(heat, (y, x), win, scale, float(v))
        score = float(evidence.max())
    distant, (y, x, dy, dx) = _global_evidence(fine, inner, win)
    if distant > 0:
        _paint(heat, (y, x), win, scale, distant)
        _paint(heat, (y + dy, x + dx), win, scale, distant)
    return _finding("repeats", max(score, distant), threshold, "repeated texture", heat)


def _paint(heat: np.ndarray, corner: tuple[int, int], win: int, scale: float, value: float) -> None:
    """Raise the coarse heatmap to `value` over the win x win window at `corner` (analysis px; scale: coarse px per
    analysis px)."""
    y, x = corner
    sl = (slice(int(y * scale), int(np.ceil((y + win) * scale))), slice(int(x * scale), int(np.ceil((x + win) * scale))))
    heat[sl] = np.maximum(heat[sl], max(0.0, value))


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
    both = mask[ya:ya + h, xa:xa + w] & mask[yb:yb + h, xb:xb + w]
    return _matched_area(window[ya:ya + h, xa:xa + w], window[yb:yb + h, xb:xb + w], both, max(4, s // BLOCK_DIVISOR))


def _matched_area(a: np.ndarray, b: np.ndarray, both: np.ndarray, size: int) -> int:
    """Return the largest connected set of block positions (blocks of size x size px, fully inside `both`, not flat)
    where the local NCC of a and b reaches MATCH_NCC (a, b: float [h, w] texture crops; both: bool [h, w])."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    box = lambda v: ndi.uniform_filter(v, size=size, mode="constant")  # noqa: E731
    ma, mb = box(a), box(b)
    va, vb = box(a * a) - ma * ma, box(b * b) - mb * mb
    cov = box(a * b) - ma * mb
    inside = box(both.astype(np.float32)) > 0.99
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


def _global_evidence(fine: np.ndarray, inner: np.ndarray, win: int) -> tuple[float, tuple[int, int, int, int]]:
    """Return (evidence of a distant repeat, (y, x, dy, dx): top-left corner of its win x win verification window at
    the analysis resolution and the displacement to its copy); evidence = verified matched area / (GLOBAL_AREA_LIMIT
    x win^2), 0 when no candidate verifies.

    Candidates are the strongest isolated peaks of the whole interior's spectrally flattened autocorrelation
    (`_global_candidates`); each is located (`_locate`) and verified by block NCC like the window lags.
    """
    ys, xs = np.nonzero(inner)
    if ys.size < GLOBAL_MIN_PIXELS:
        return 0.0, (0, 0, 0, 0)
    y0, x0 = int(ys.min()), int(xs.min())
    crop = (slice(y0, int(ys.max()) + 1), slice(x0, int(xs.max()) + 1))
    tex, m = fine[crop], inner[crop]
    norm = _contrast_normalised(tex, m, win // BLOCK_DIVISOR)
    best, where = 0.0, (0, 0, 0, 0)
    size, side = max(4, win // BLOCK_DIVISOR), win // 2
    for dy, dx in _global_candidates(norm, m):
        y, x = _locate(norm, (dy, dx), win // LOCATE_DIVISOR)
        y, x = _window_pair(tex.shape, (y, x), (dy, dx), side)
        eh = min(side, tex.shape[0] - y, tex.shape[0] - y - dy)
        ew = min(side, tex.shape[1] - x, tex.shape[1] - x - dx)
        if eh < 2 * size or ew < 2 * size or min(y, x, y + dy, x + dx) < 0:
            continue
        a, b = tex[y:y + eh, x:x + ew], tex[y + dy:y + dy + eh, x + dx:x + dx + ew]
        both = m[y:y + eh, x:x + ew] & m[y + dy:y + dy + eh, x + dx:x + dx + ew]
        area = _matched_area(a, b, both, size) / (GLOBAL_AREA_LIMIT * win * win)
        if area > best:
            best, where = area, (y + y0, x + x0, dy, dx)
    return best, where


def _contrast_normalised(tex: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Return float32 [h, w]: the texture minus its interior mean, divided by its local RMS (box of 2 size + 1 px),
    0 outside the interior: unit local variance, so dense and fatty tissue weigh alike."""
    mf = m.astype(np.float32)
    t = (tex - float(tex[m].mean())) * mf
    energy = ndi.uniform_filter(t * t, 2 * size + 1) / np.maximum(ndi.uniform_filter(mf, 2 * size + 1), 1e-3)
    floor = 0.05 * float(np.median(energy[m]))
    return (t / np.sqrt(np.maximum(energy, max(floor, 1e-12)))).astype(np.float32)


def _global_candidates(norm: np.ndarray, m: np.ndarray) -> list[tuple[int, int]]:
    """Return up to N_GLOBAL displacements (dy, dx), strongest first: peaks of the whole region's spectrally
    flattened autocorrelation over GLOBAL_MIN_Z noise units (peak / sqrt(overlapping pairs) / robust spread).

    Flattening (the power spectrum divided by its moving average over 1 / GLOBAL_FLATTEN of each axis's
    band) makes the correlation of clean texture fall to noise one pixel from the origin, so a copy of A pixels
    in a region of N gives a one-pixel peak of about A / sqrt(N) noise units at its displacement.
    """
    h, w = norm.shape
    shape = (scipy.fft.next_fast_len(2 * h - 1, real=True), scipy.fft.next_fast_len(2 * w - 1, real=True))
    spec = scipy.fft.rfft2(norm, s=shape, workers=1)
    power = spec.real ** 2 + spec.imag ** 2
    box = (max(3, shape[0] // GLOBAL_FLATTEN) | 1, max(3, shape[1] // GLOBAL_FLATTEN) | 1)
    power /= np.maximum(ndi.uniform_filter(power, box, mode=("wrap", "mirror")), 1e-12 * float(power.max()))
    auto = _half_plane(scipy.fft.irfft2(power, s=shape, workers=1), h, w)
    pairs = _pair_counts(m, h, w)
    lag_y, lag_x = np.arange(h)[:, None], np.arange(-(w - 1), w)[None, :]
    valid = pairs >= GLOBAL_MIN_PAIRS * float(m.sum())
    valid &= ((lag_y > 0) | (lag_x > 0)) & (np.maximum(lag_y, np.abs(lag_x)) >= GLOBAL_MIN_LAG)
    z = np.where(valid, auto / np.sqrt(np.maximum(pairs, 1.0)), 0.0).astype(np.float32)
    sample = z[::3, ::3][valid[::3, ::3]]
    if sample.size < 100:
        return []
    z /= max(1.4826 * float(np.median(np.abs(sample))), 1e-12)
    top = np.flatnonzero(z >= GLOBAL_MIN_Z)
    out: list[tuple[int, int]] = []
    for i in top[np.argsort(-z.ravel()[top])]:
        dy, dx = int(i // z.shape[1]), int(i % z.shape[1]) - (w - 1)
        if any(max(abs(dy - a), abs(dx - b)) <= 2 for a, b in out):
            continue
        out.append((dy, dx))
        if len(out) == N_GLOBAL:
            break
    return out


def _pair_counts(m: np.ndarray, h: int, w: int) -> np.ndarray:
    """Return float [h, 2w - 1]: pixel pairs of the region `m` [h, w] overlapping at lags dy = 0..h-1, dx = -(w-1)..w-1,
    computed on the region reduced 4x (pair counts vary slowly with the lag)."""
    r = 4
    small = box_reduce(np.pad(m.astype(np.float32), ((0, -h % r), (0, -w % r))), r)
    sh, sw = small.shape
    shape = (scipy.fft.next_fast_len(2 * sh - 1, real=True), scipy.fft.next_fast_len(2 * sw - 1, real=True))
    spec = scipy.fft.rfft2(small, s=shape, workers=1)
    coarse = _half_plane(scipy.fft.irfft2(spec.real ** 2 + spec.imag ** 2, s=shape, workers=1), sh, sw) * (r * r)
    iy = np.minimum(np.rint(np.arange(h) / r).astype(int), sh - 1)
    ix = np.clip(np.rint(np.arange(-(w - 1), w) / r).astype(int) + sw - 1, 0, 2 * sw - 2)
    return coarse[np.ix_(iy, ix)]


def _half_plane(full: np.ndarray, h: int, w: int) -> np.ndarray:
    """Return [h, 2w - 1]: a circular correlation's lags dy = 0..h-1 (rows), dx = -(w-1)..w-1 (columns)."""
    return np.concatenate([full[:h, full.shape[1] - w + 1:], full[:h, :w]], axis=1)


def _locate(norm: np.ndarray, lag: tuple[int, int], block: int) -> tuple[int, int]:
    """Return the (y, x) centre of the block (side `block`, stride block / 2) where norm(p) x norm(p + lag) sums
    highest: where the copy at that displacement lies."""
    dy, dx = lag
    h, w = norm.shape
    ya, xa, xb = 0, max(0, -dx), max(0, dx)
    hh, ww = h - dy, w - abs(dx)
    prod = norm[ya:ya + hh, xa:xa + ww] * norm[dy:dy + hh, xb:xb + ww]
    step = max(1, block // 2)
    ny, nx = hh // step, ww // step
    if ny < 2 or nx < 2:
        return hh // 2, xa + ww // 2
    cells = prod[:ny * step, :nx * step].reshape(ny, step, nx, step).sum(axis=(1, 3))
    sums = cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(iy * step + step), int(xa + ix * step + step)


def _window_pair(shape: tuple[int, int], centre: tuple[int, int], lag: tuple[int, int], win: int) -> tuple[int, int]:
    """Return the top-left corner of a win x win window near `centre` such that it and the window `lag` away
    both lie inside an image of `shape` (as far as they fit)."""
    (h, w), (cy, cx), (dy, dx) = shape, centre, lag
    y = min(max(cy - win // 2, max(0, -dy)), max(0, h - win - max(0, dy)))
    x = min(max(cx - win // 2, max(0, -dx)), max(0, w - win - max(0, dx)))
    return y, x
