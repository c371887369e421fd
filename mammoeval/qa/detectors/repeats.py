"""Repeated-tile / copy-paste texture detector: peaks of the breast's regional, spectrally flattened autocorrelation.

A generator that copies texture leaves the same fine texture at two or more places a fixed
displacement apart: periodic tiles repeat it at the tile period, a pasted patch repeats its source
anywhere in the breast. Clean tissue is not self-similar: once its spectrum is flattened, its
correlation falls to noise one pixel from the origin.

Method, on the working image box-reduced to about ANALYSIS_HEIGHT rows (under 960):
1. fine texture = image minus its Gaussian blur (sigma FINE_SIGMA px), clipped to +-CLIP_SPREAD
   robust spreads (calcification clusters and markers must not dominate), inside the interior: the
   eroded breast without the chest-wall band (film edge) and the pectoral muscle (striated);
2. contrast normalisation: the texture divided by its local RMS, so dense and fatty tissue weigh alike;
3. the interior's bounding box is cut into GRID regions; each region is cross-correlated with the whole
   interior at every displacement by FFT, with the power spectrum divided by its moving average
   (spectral flattening, see FLATTEN) and each displacement's sum divided by the square root of
   its overlapping pixel pairs. A copy of A pixels whose source lies in a region of N pixels gives a
   one-pixel peak of about A / sqrt(N) noise units at its displacement (regions rather than the whole
   breast: N is smaller, the peak higher);
4. the N_CANDIDATES strongest peaks over MIN_Z noise units are located (the block where the texture times
   its displaced self sums highest); the N_VERIFIED whose block correlates best are refined to the pixel
   and verified by block NCC between the texture there and one displacement away: a copy matches as one
   compact region of blocks, the chance peaks of clean texture match nowhere. Blocks dominated by one
   edge (coherent gradients), by clipped pixels or that also match further along the displacement lie on
   straight structures (pectoral edge, vessels) and do not count.

Score = the largest verified matched area / (MATCH_AREA x the verification window's area) (>= 1 flags);
heatmap = the score painted over the two verification windows of that displacement (source and copy).

Thresholds were set on the even-indexed real-dev files, the phantoms, `inject.inject_tiles` and hand-made
distant copies of square patches (benchmarks/qa_repeats.py, reports/qa_repeats.md); the evaluation-only
`inject.inject_tiles_variant` was never tuned on. Clean images score about 0 (at most 0.05 seen).

Limits: displacements under MIN_LAG px at the analysis resolution are not searched (periodic patterns
that fine are the checkerboard detector's); a copy of A pixels is seen only when its peak stands out
of the noise of its region: A / sqrt(N) >~ 4, so copies under about 5% of the image height (640-row
analysis) or 7% (320 rows) are mostly missed.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import scipy.fft
from scipy import ndimage as ndi

from mammoeval.core.imageops import box_reduce
from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.base import mask_at as _mask_at

ANALYSIS_HEIGHT: Final = 640
"""Height (px) the texture is analysed at: the working image is box-reduced by the integer factor nearest to
its height / this (1280 rows -> 640, 1500 -> 750, 900 -> 900): under 960 rows (a working image of 641-959
rows is analysed whole rather than halved, which would lose half the copy's pixels per axis)."""
VERIFY: Final = 64
"""Side (px at the analysis resolution) of the block-NCC verification windows; VERIFY / 2 when the
analysis image is under SMALL_HEIGHT rows."""
SMALL_HEIGHT: Final = 384
"""Analysis images under this height use verification windows of VERIFY / 2 px."""
FINE_SIGMA: Final = 1.0
"""Gaussian sigma (px) of the blur removed to keep the fine texture."""
CLIP_SPREAD: Final = 2.5
"""The fine texture is clipped to its median +- this many robust spreads (see _clipped_fine_texture)."""
GRID: Final = (2, 2)
"""Rows x columns of regions the interior's bounding box is cut into (each cross-correlated with the whole)."""
FLATTEN: Final = 16
"""Spectral flattening: the power spectrum is divided by its moving average over (padded size / FLATTEN)
bins per axis. Displacements over about FLATTEN px keep their full peak."""
MIN_LAG: Final = 12
"""Smallest displacement (px at the analysis resolution, Chebyshev) searched."""
MIN_PAIRS: Final = 0.1
"""Displacements at which fewer pixels of a region overlap the interior than this share of the region are skipped."""
MIN_PIXELS: Final = 2000
"""Interiors with fewer pixels than this (at the analysis resolution) are not searched (score 0)."""
N_CANDIDATES: Final = 128
"""Correlation peaks located per image (strongest first); the N_VERIFIED whose best block correlates most are verified."""
N_VERIFIED: Final = 8
"""Located candidates verified by block NCC per image."""
MIN_Z: Final = 2.5
"""Peaks under this many noise units (robust spread of the region's normalised correlation) are not verified."""
LOCATE_BLOCK: Final = 2
"""A candidate's copy is located with blocks of verification side / this px."""
BLOCK: Final = 8
"""Side (px) of the verification blocks."""
ALONG: Final = 6
"""Blocks that also match ALONG px beyond the displacement (along its direction) lie on a straight structure and
never count."""
MAX_COHERENCE: Final = 0.6
"""Blocks whose gradient structure tensor is more coherent than this are dominated by one edge or line (the
pectoral edge, the skin line, a vessel) and never count: such a block matches itself anywhere along it."""
MAX_CLIPPED: Final = 0.15
"""Blocks with more than this share of their pixels at the fine texture's clip limits are dominated by a strong
edge or bright details and never count (clean texture has about 1-4%)."""
MATCH_NCC: Final = 0.85
"""Local normalised cross-correlation at which a block counts as a copy of the block one displacement away."""
FLAT_SHARE: Final = 0.25
"""Blocks with local variance under this share of the windows' median are flat and never count."""
MIN_TEXTURE_STD: Final = 0.002
"""Blocks whose fine texture has a standard deviation under this (grey levels; half an 8-bit step) are
flat and never count: smooth regions match themselves at any displacement."""
MATCH_AREA: Final = 0.02
"""Matched block positions, as a share of the verification window's area, that reach the repeats threshold
(82 positions, about a 9 x 9 set, at the 640-row analysis: a copy of about 17 px; 20 at 320 rows); clean
images match at most a few."""


def detect_repeats(work: np.ndarray, anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the repeated-texture finding: the largest block-NCC-verified copy among the strongest peaks of
    the breast's regional autocorrelation.

    Args:
        work: float32 [H, W] working image in [0, 1], chest wall left.
        anatomy: its anatomy (breast mask on the coarse grid).
        threshold: flag threshold on the score (score = verified matched block positions / (MATCH_AREA x
            verification window area); clean images score about 0).
    """
    f = max(1, int(round(work.shape[0] / ANALYSIS_HEIGHT)))
    small = box_reduce(work, f) if f > 1 else work.astype(np.float32, copy=False)
    side = VERIFY if small.shape[0] >= SMALL_HEIGHT else VERIFY // 2
    inner = _interior(anatomy, small.shape, f)
    heat = np.zeros(anatomy.mask.shape, np.float32)
    score, (y, x, dy, dx) = _copy_evidence(_clipped_fine_texture(small, inner), inner, side)
    if score > 0:
        scale = f / anatomy.factor  # analysis px -> coarse px
        _paint(heat, (y, x), side, scale, score)
        _paint(heat, (y + dy, x + dx), side, scale, score)
    return _finding("repeats", score, threshold, "repeated texture", heat)


def _copy_evidence(fine: np.ndarray, inner: np.ndarray, side: int) -> tuple[float, tuple[int, int, int, int]]:
    """Return (score, (y, x, dy, dx)): the largest verified matched area / (MATCH_AREA side^2) over the candidate
    displacements, the top-left corner (analysis px) of its side x side verification window and the displacement
    to its copy; (0, zeros) when none verifies.

    Args:
        fine: float32 [h, w] clipped fine texture at the analysis resolution.
        inner: bool [h, w] interior mask.
        side: verification window side (px).
    """
    ys, xs = np.nonzero(inner)
    if ys.size < MIN_PIXELS:
        return 0.0, (0, 0, 0, 0)
    y0, x0 = int(ys.min()), int(xs.min())
    crop = (slice(y0, int(ys.max()) + 1), slice(x0, int(xs.max()) + 1))
    tex, m = fine[crop], inner[crop]
    size = BLOCK
    norm = _contrast_normalised(tex, m, side // 4)
    hi, lo = float(tex[m].max()), float(tex[m].min())
    clipped = ((tex >= hi) | (tex <= lo)).astype(np.float32)  # at the clip limits of _clipped_fine_texture
    best, where = 0.0, (0, 0, 0, 0)
    located = [(*_locate(norm, lag, side // LOCATE_BLOCK, 2), lag) for lag in compute_candidates(norm, m)]
    for _, centre, lag in sorted(located, key=lambda t: -t[0])[:N_VERIFIED]:
        dy, dx = _refine(norm, centre, lag, side // LOCATE_BLOCK)
        y, x = _window_pair(tex.shape, centre, (dy, dx), side)
        eh = min(side, tex.shape[0] - y, tex.shape[0] - y - dy)
        ew = min(side, tex.shape[1] - x, tex.shape[1] - x - dx)
        if eh < 2 * size or ew < 2 * size or min(y, x, y + dy, x + dx) < 0:
            continue
        area = _verified_area(tex, m, (y, x, eh, ew), (dy, dx), size, clipped) / (MATCH_AREA * side * side)
        if area > best:
            best, where = area, (y + y0, x + x0, dy, dx)
    return best, where


def compute_candidates(norm: np.ndarray, m: np.ndarray) -> list[tuple[int, int]]:
    """Return up to N_CANDIDATES displacements (dy, dx) with dy > 0 or (dy = 0, dx > 0), strongest first: the peaks
    over MIN_Z noise units of the regions' spectrally flattened cross-correlations with the whole region of interest.

    Args:
        norm: float32 [h, w] contrast-normalised texture, 0 outside the region of interest.
        m: bool [h, w] region of interest.
    """
    h, w = norm.shape
    rh, rw = _region_size(h, GRID[0]), _region_size(w, GRID[1])
    shape = (scipy.fft.next_fast_len(h + rh - 1, real=True), scipy.fft.next_fast_len(w + rw - 1, real=True))
    spec = scipy.fft.rfft2(norm, s=shape, workers=1)
    power = spec.real ** 2 + spec.imag ** 2
    spec /= _flattening(power, shape)
    pairs = _PairCounter(m, rh, rw)
    peaks: list[tuple[float, int, int]] = []
    for oy in range(0, h, rh):
        for ox in range(0, w, rw):
            region = (slice(oy, oy + rh), slice(ox, ox + rw))
            if int(m[region].sum()) < MIN_PIXELS // (GRID[0] * GRID[1]):
                continue
            corr = scipy.fft.irfft2(np.conj(scipy.fft.rfft2(norm[region], s=shape, workers=1)) * spec, s=shape, workers=1)
            weights = pairs.weights(oy, ox, MIN_PAIRS * int(m[region].sum()))
            peaks += _region_peaks(_lag_surface(corr, (h, w), (rh, rw)) * weights, (oy, ox), (rh, rw))
    out: list[tuple[int, int]] = []
    taken: set[tuple[int, int]] = set()  # displacements within 2 px of one already kept
    for _, dy, dx in sorted(peaks, reverse=True):
        if dy < 0 or (dy == 0 and dx < 0):
            dy, dx = -dy, -dx
        if (dy, dx) in taken:
            continue
        out.append((dy, dx))
        taken.update((dy + a, dx + b) for a in range(-2, 3) for b in range(-2, 3))
        taken.update((-dy - a, -dx - b) for a in range(-2, 3) for b in range(-2, 3))
        if len(out) == N_CANDIDATES:
            break
    return out


def _flattening(power: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return float [P0, P1 // 2 + 1]: the moving average of a real FFT's power over (P / FLATTEN) bins per axis,
    even in frequency (so dividing by it is a zero-phase filter and moves no correlation peak).

    The half spectrum's first column (and last, for even P1) holds frequencies k and -k alike: they are
    averaged with their mirror -k so the filter stays real and even.
    """
    box = (max(3, shape[0] // FLATTEN) | 1, max(3, shape[1] // FLATTEN) | 1)
    smooth = ndi.uniform_filter(power, box, mode=("wrap", "mirror"))
    neg = -np.arange(shape[0]) % shape[0]
    for col in (0, -1) if shape[1] % 2 == 0 else (0,):
        smooth[:, col] = 0.5 * (smooth[:, col] + smooth[neg, col])
    return np.maximum(smooth, 1e-3 * float(smooth.mean()))


def _region_size(n: int, parts: int) -> int:
    """Return the region side (px): n / parts rounded up to a multiple of 4 (the pair counts are computed 4x reduced)."""
    return max(4, -(-n // (4 * parts)) * 4)


def _lag_surface(corr: np.ndarray, full: tuple[int, int], region: tuple[int, int]) -> np.ndarray:
    """Return [h + rh - 1, w + rw - 1]: a region's circular cross-correlation with the whole, reordered so that row r,
    column c hold the local shift j = (r - (rh - 1), c - (rw - 1)) (displacement = j - the region's offset)."""
    (h, w), (rh, rw) = full, region
    rows = np.r_[corr.shape[0] - rh + 1:corr.shape[0], 0:h]
    cols = np.r_[corr.shape[1] - rw + 1:corr.shape[1], 0:w]
    return corr[rows][:, cols]


def _region_peaks(z: np.ndarray, offset: tuple[int, int], region: tuple[int, int]) -> list[tuple[float, int, int]]:
    """Return (z, dy, dx) of the displacements where a region's correlation / sqrt(pairs) (`z`, laid out like
    `_lag_surface`, 0 where skipped), in robust spreads, reaches MIN_Z (at most 4 N_CANDIDATES, strongest first)."""
    cy, cx = region[0] - 1 + offset[0], region[1] - 1 + offset[1]  # row, column of displacement 0
    z[max(0, cy - MIN_LAG + 1):cy + MIN_LAG, max(0, cx - MIN_LAG + 1):cx + MIN_LAG] = 0.0
    sample = z[::3, ::3]
    sample = sample[sample != 0.0]
    if sample.size < 100:
        return []
    spread = max(1.4826 * float(np.median(np.abs(sample))), 1e-12)
    top = np.flatnonzero(z >= MIN_Z * spread)
    if top.size > 4 * N_CANDIDATES:
        top = top[np.argpartition(z.ravel()[top], -4 * N_CANDIDATES)[-4 * N_CANDIDATES:]]
    top = top[np.argsort(-z.ravel()[top])]
    r, c = np.divmod(top, z.shape[1])
    return list(zip((z.ravel()[top] / spread).tolist(), (r - cy).tolist(), (c - cx).tolist(), strict=True))


class _PairCounter:
    """Noise weights 1 / sqrt(pixel pairs) of each region and the whole region of interest overlapping at each
    displacement, computed on the masks reduced 4x (pair counts vary slowly with the displacement)."""

    def __init__(self, m: np.ndarray, rh: int, rw: int) -> None:
        h, w = m.shape
        self.full = box_reduce(np.pad(m.astype(np.float32), ((0, -h % 4), (0, -w % 4))), 4)
        self.shape, self.region = (h, w), (rh // 4, rw // 4)
        fh, fw = self.full.shape
        self.fft_shape = (scipy.fft.next_fast_len(fh + rh // 4 - 1, real=True),
                          scipy.fft.next_fast_len(fw + rw // 4 - 1, real=True))
        self.spec = scipy.fft.rfft2(self.full, s=self.fft_shape, workers=1)

    def weights(self, oy: int, ox: int, min_pairs: float) -> np.ndarray:
        """Return float32 [h + rh - 1, w + rw - 1], laid out like `_lag_surface`: 1 / sqrt(pairs) of the region at
        (oy, ox), 0 where fewer than `min_pairs` pixel pairs overlap."""
        (h, w), (qh, qw) = self.shape, self.region
        part = self.full[oy // 4:oy // 4 + qh, ox // 4:ox // 4 + qw]
        corr = scipy.fft.irfft2(np.conj(scipy.fft.rfft2(part, s=self.fft_shape, workers=1)) * self.spec,
                                s=self.fft_shape, workers=1)
        pairs = _lag_surface(corr, self.full.shape, (qh, qw)) * 16.0
        coarse = np.where(pairs >= min_pairs, 1.0 / np.sqrt(np.maximum(pairs, 1.0)), 0.0).astype(np.float32)
        # fine shift j takes the coarse shift round(j / 4): fine row r <-> coarse row (r - 1) // 4
        up = np.repeat(np.repeat(coarse, 4, axis=0), 4, axis=1)
        rows, cols = h + 4 * qh - 1, w + 4 * qw - 1
        up = np.pad(up, ((1, max(0, rows - up.shape[0] - 1)), (1, max(0, cols - up.shape[1] - 1))), mode="edge")
        return up[:rows, :cols]


def _locate(norm: np.ndarray, lag: tuple[int, int], block: int, stride: int = 1) -> tuple[float, tuple[int, int]]:
    """Return (mean product, (y, x)): the block (side `block`, stride block / 2) where norm(p) x norm(p + lag) sums
    highest, its mean product over the block (about 1 on a copy of contrast-normalised texture, about 0 elsewhere)
    and its centre: where the copy at that displacement (dy >= 0) lies. Products are taken every `stride` px."""
    dy, dx = lag
    h, w = norm.shape
    xa, xb = max(0, -dx), max(0, dx)
    hh, ww = h - dy, w - abs(dx)
    step = max(stride, block // 2 // stride * stride)
    ny, nx = hh // step, ww // step
    if ny < 2 or nx < 2:
        return 0.0, (hh // 2, xa + ww // 2)
    prod = norm[:ny * step:stride, xa:xa + nx * step:stride] * norm[dy:dy + ny * step:stride, xb:xb + nx * step:stride]
    k = step // stride
    cells = prod.reshape(ny, k, nx * k).sum(axis=1).reshape(ny, nx, k).sum(axis=2)  # faster than axis=(1, 3)
    sums = cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return float(sums[iy, ix]) / (4 * k * k), (int(iy * step + step), int(xa + ix * step + step))


def _refine(norm: np.ndarray, centre: tuple[int, int], lag: tuple[int, int], block: int) -> tuple[int, int]:
    """Return the displacement within one pixel of `lag` that best matches the block (side `block`) at `centre`
    with its displaced self (largest sum of products): a correlation peak smeared by anisotropic texture may sit
    one pixel off the copy's displacement."""
    h, w = norm.shape
    (cy, cx), half = centre, block // 2
    y0, x0 = max(0, cy - half), max(0, cx - half)
    a = norm[y0:cy + half, x0:cx + half]
    best, out = -np.inf, lag
    for ey in (-1, 0, 1):
        for ex in (-1, 0, 1):
            dy, dx = lag[0] + ey, lag[1] + ex
            if y0 + dy < 0 or x0 + dx < 0 or y0 + dy + a.shape[0] > h or x0 + dx + a.shape[1] > w:
                continue
            v = float(np.sum(a * norm[y0 + dy:y0 + dy + a.shape[0], x0 + dx:x0 + dx + a.shape[1]]))
            if v > best:
                best, out = v, (dy, dx)
    return out


def _window_pair(shape: tuple[int, int], centre: tuple[int, int], lag: tuple[int, int], side: int) -> tuple[int, int]:
    """Return the top-left corner of a side x side window centred near `centre` such that it and the window `lag`
    away both lie inside an image of `shape` as far as they fit."""
    (h, w), (cy, cx), (dy, dx) = shape, centre, lag
    y = min(max(cy - side // 2, max(0, -dy)), max(0, h - side - max(0, dy)))
    x = min(max(cx - side // 2, max(0, -dx)), max(0, w - side - max(0, dx)))
    return y, x


def compute_matched_area(window: np.ndarray, mask: np.ndarray, lag: tuple[int, int], *, block: int = 8) -> int:
    """Return the size of the largest connected set of block positions whose block matches the block `lag`
    away (local NCC >= MATCH_NCC): a copy is one compact region, chance matches of clean texture are scattered.

    Blocks are `block` px square, lie fully in the mask at both ends and are not flat at either end (local
    variance >= FLAT_SHARE x the median local variance and >= MIN_TEXTURE_STD^2).

    Args:
        window: float [h, w] texture.
        mask: bool [h, w] region of interest.
        lag: (dy, dx) displacement in px.
        block: block side in px.
    """
    h, w = window.shape
    dy, dx = lag
    ya, yb, xa, xb = max(0, -dy), max(0, dy), max(0, -dx), max(0, dx)
    hh, ww = h - abs(dy), w - abs(dx)
    if hh < block or ww < block:
        return 0
    both = mask[ya:ya + hh, xa:xa + ww] & mask[yb:yb + hh, xb:xb + ww]
    return _matched_area(window[ya:ya + hh, xa:xa + ww], window[yb:yb + hh, xb:xb + ww], both, block)


def _verified_area(tex: np.ndarray, m: np.ndarray, box: tuple[int, int, int, int], lag: tuple[int, int], size: int,
                   clipped: np.ndarray | None = None) -> int:
    """Return the largest connected set of block positions in the window `box` = (y, x, height, width) that match
    their block `lag` away, are not dominated by one edge and do not also match ALONG px further along the lag.

    A copy matches at its displacement only; a straight or gently curved structure (the pectoral edge,
    a vessel, a film edge) matches itself along its direction: its blocks are coherent (one gradient
    direction), saturated (over MAX_CLIPPED of their pixels at the texture's clip limits) or match
    further along too, and are not counted.

    Args:
        tex: float [h, w] texture; m: bool [h, w] region of interest.
        box: the window in tex (y, x, height, width); the window `lag` away must lie inside tex.
        lag: (dy, dx) displacement (px).
        size: block side (px).
        clipped: optional float [h, w], 1 where tex sits at its clip limits.
    """
    y, x, eh, ew = box
    dy, dx = lag
    norm = max(1.0, float(np.hypot(dy, dx)))
    ey, ex = dy + int(round(ALONG * dy / norm)), dx + int(round(ALONG * dx / norm))
    a = tex[y:y + eh, x:x + ew]
    near = _matched_map(a, tex[y + dy:y + dy + eh, x + dx:x + dx + ew],
                        m[y:y + eh, x:x + ew] & m[y + dy:y + dy + eh, x + dx:x + dx + ew], size)
    near &= _coherence(a, size) < MAX_COHERENCE
    if clipped is not None and near.any():
        near &= ndi.uniform_filter(clipped[y:y + eh, x:x + ew], size=size, mode="constant") <= MAX_CLIPPED
    if not near.any():
        return 0
    pad = ALONG + 1
    tp, mp = np.pad(tex, pad), np.pad(m, pad)
    sl = (slice(y + ey + pad, y + ey + pad + eh), slice(x + ex + pad, x + ex + pad + ew))
    far = _matched_map(a, tp[sl], m[y:y + eh, x:x + ew] & mp[sl], size)
    return _largest(near & ~far)


def _coherence(a: np.ndarray, size: int) -> np.ndarray:
    """Return float [h, w] in [0, 1]: the coherence of the gradient structure tensor over each size x size block
    (0: no dominant direction, 1: a single straight edge or line)."""
    gy, gx = np.gradient(a.astype(np.float32))
    box = lambda v: ndi.uniform_filter(v, size=size, mode="nearest")  # noqa: E731
    jxx, jyy, jxy = box(gx * gx), box(gy * gy), box(gx * gy)
    return np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / np.maximum(jxx + jyy, 1e-20)


def _matched_area(a: np.ndarray, b: np.ndarray, both: np.ndarray, size: int) -> int:
    """Return the largest connected set of block positions where a and b match (see `_matched_map`)."""
    return _largest(_matched_map(a, b, both, size))


def _largest(matched: np.ndarray) -> int:
    """Return the size of the largest 4-connected component of a bool map (0 when empty)."""
    if not matched.any():
        return 0
    labels, _ = ndi.label(matched)
    return int(np.bincount(labels.ravel())[1:].max())


def _matched_map(a: np.ndarray, b: np.ndarray, both: np.ndarray, size: int) -> np.ndarray:
    """Return bool [h, w]: block positions (blocks of size x size px, fully inside `both`, not flat) where the local
    NCC of a and b reaches MATCH_NCC (a, b: float [h, w] texture crops; both: bool [h, w])."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    box = lambda v: ndi.uniform_filter(v, size=size, mode="constant")  # noqa: E731
    inside = box(both.astype(np.float32)) > 0.99
    if not inside.any():
        return inside
    ma, mb = box(a), box(b)
    va, vb = box(a * a) - ma * ma, box(b * b) - mb * mb
    cov = box(a * b) - ma * mb
    floor = max(FLAT_SHARE * float(np.median(np.concatenate([va[inside], vb[inside]]))), MIN_TEXTURE_STD ** 2)
    ok = inside & (va > floor) & (vb > floor)
    return ok & (cov >= MATCH_NCC * np.sqrt(np.maximum(va * vb, 1e-20)))


def _contrast_normalised(tex: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Return float32 [h, w]: the texture minus its mean over `m`, divided by its local RMS (box of 2 size + 1 px),
    0 outside `m`: unit local variance, so dense and fatty tissue weigh alike."""
    mf = m.astype(np.float32)
    t = (tex - float(tex[m].mean())) * mf
    energy = ndi.uniform_filter(t * t, 2 * size + 1) / np.maximum(ndi.uniform_filter(mf, 2 * size + 1), 1e-3)
    floor = max(0.05 * float(np.median(energy[m])), 1e-12)
    return (t / np.sqrt(np.maximum(energy, floor))).astype(np.float32)


def _clipped_fine_texture(small: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Return float32 [h, w]: image minus its blur (sigma FINE_SIGMA), clipped to +-CLIP_SPREAD robust spreads.

    Clipping keeps sparse bright or dark details (calcifications, markers, dust) from dominating the
    correlation: a cluster of similar dots would otherwise give peaks at their spacings. The robust
    spread (1.4826 x MAD) is measured inside the breast interior.
    """
    fine = small - ndi.gaussian_filter(small, FINE_SIGMA)
    vals = fine[inner]
    if vals.size == 0:
        return fine
    centre = float(np.median(vals))
    spread = max(1.4826 * float(np.median(np.abs(vals - centre))), 1e-6)
    return np.clip(fine, centre - CLIP_SPREAD * spread, centre + CLIP_SPREAD * spread)


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


def _paint(heat: np.ndarray, corner: tuple[int, int], side: int, scale: float, value: float) -> None:
    """Raise the coarse heatmap to `value` over the side x side window at `corner` (analysis px; scale: coarse px
    per analysis px)."""
    y, x = corner
    sl = (slice(int(y * scale), int(np.ceil((y + side) * scale))), slice(int(x * scale), int(np.ceil((x + side) * scale))))
    heat[sl] = np.maximum(heat[sl], max(0.0, value))


def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_repeats(work, required(anatomy))


DETECTOR = FunctionDetector("repeats", _score)
