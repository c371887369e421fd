"""Calcification detection in one mammogram, and per-set statistics compared real vs generated.

A calcification is a small bright spot inside the breast (1-6 px at the working resolution).
Detection, each step a physical symptom rather than a template:

1. spot strength: the smaller eigenvalue of the negated Hessian of the image blurred by the
   binomial kernel once and twice (variance 1 and 2 px^2), scale-normalised (x variance), the larger
   of the two. Both curvatures must be high: a spot is strong, a ridge (vessel, fibre, text stroke)
   or an edge is near 0. Dense fibrous texture, which makes a global top-hat bar rise above
   blatant spots, hardly registers;
2. strength bar: median + `blob_k` x robust spread (1.4826 x MAD) of the strength over the breast
   (at least `min_strength`); the white top-hat (grey level minus a 7x7 grey opening) at the peak
   must also reach `min_contrast`. Candidates are maxima of the top-hat or of the strength;
3. round: Hessian eigenvalue ratio at either blur says "spot", not "ridge";
4. small and isolated, measured on the spot's own support (pixels whose strength is at least
   `support_frac` x its peak, so ridges under or beside it do not count): the part above half the
   peak (split from neighbouring spots of a cluster where a dip separates them) must be at most
   `max_diameter_px` across, must not run on, and bright texture must not surround it; the bright
   part must not extend to one side only (the end of a line or stroke);
5. not part of a larger bright object: pixels brighter than the spot's half-maximum level that
   connect to it must stay within its radius (+ slack away from the skin line). Near the skin line
   this looks at all pixels (rim cusps of skin markers connect to the whole marker);
6. inside the breast, off the pectoral muscle (+ 2 coarse pixels: its corner at the image edge is
   round), at least 2% of the width from the skin line and `edge_px` from the image edge (at the
   chest wall only beside the muscle).

Top-hat contrast baselines (one top-hat bar per image, or a block z-score of the top-hat) live in
benchmarks/calc_baselines.py for comparison: both miss most spots in dense texture
(reports/qa_calcs.md).

Clusters are groups of at least 3 detections linked within `cluster_distance_frac` x height
(single linkage). Settings were tuned on phantom seeds 0-39 and the even-indexed real-dev files
(evaluation-only spots added at 640 rows; detections on the clean images), and are reported on seeds
1000-1059 and the odd-indexed files (benchmarks/qa_calcs.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import ndimage as ndi
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import wasserstein_distance

from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.artifacts import _mask_at


@dataclass(frozen=True)
class CalcConfig:
    """Calcification detector settings (pixels are working-resolution pixels).

    Attributes:
        opening_px: side of the square grey opening; spots narrower than this pass the top-hat.
        min_contrast: smallest top-hat peak counted, in grey levels of [0, 1]; 0.09 sits just below the
            0.1 contrast the validation promises, because the top-hat of a sampled 2-px spot reads a little low.
        max_diameter_px: largest half-maximum diameter kept (bigger = marker or mass); 6 px lets
            Gaussian spots of FWHM 4.5 px (axis ratio 1.6) through.
        min_blobness: smallest ratio of the Hessian eigenvalues at the peak (best of the scales):
            round spots are near 1, ridges (vessels, strokes, texture fibres) near 0.
        max_ring_fraction: largest share of a ring just outside the spot that other bright
            top-hat pixels may cover (more = dense texture, text or a mass edge).
        run_on_px: the half-maximum part may reach this far past max_diameter_px / 2.
        marker_px: size of the neighbourhood searched for a larger bright object (skin marker).
        object_slack_px: extra reach allowed to the connected bright part away from the skin line
            (touching calcifications of a cluster).
        skin_margin_frac: detections closer to the skin line than this fraction of the width are dropped.
        cluster_distance_frac: linking distance for clusters, as a fraction of the image height.
        min_cluster_size: members needed for a cluster.
        blob_k: strength bar: median + blob_k x 1.4826 x MAD of the spot strength over the breast.
        support_frac: pixels whose strength is at least this share of the peak's belong to
            the spot (size, ring, run-on and bright-object tests away from the skin line).
        edge_px: rows and columns this close to the image edge are not searched (at the
            chest wall, left, only in the rows of the pectoral muscle: its corner there looks round).
        one_sided: line-end test: the bright part's centroid may lie at most this share of
            its pixels' mean distance from the peak.
        min_strength: lowest strength bar (grey levels / px^2; a Gaussian spot of contrast
            0.1 has about 0.02), for images with no texture at all.
    """

    opening_px: int = 7
    min_contrast: float = 0.09
    max_diameter_px: float = 6.0
    min_blobness: float = 0.35
    max_ring_fraction: float = 0.35
    run_on_px: float = 2.0
    marker_px: int = 9
    object_slack_px: float = 4.0
    skin_margin_frac: float = 0.02
    cluster_distance_frac: float = 0.05
    min_cluster_size: int = 3
    blob_k: float = 6.0
    support_frac: float = 0.4
    edge_px: int = 2
    one_sided: float = 0.85
    min_strength: float = 0.01


@dataclass(frozen=True)
class Calc:
    """One detected calcification.

    Attributes:
        x, y: centre (column, row) in working-resolution pixels, chest wall left.
        diameter_px: equivalent diameter of the part above half the peak.
        contrast: top-hat peak (grey levels above the local background).
        cluster: cluster index, -1 when not in a cluster.
    """

    x: float
    y: float
    diameter_px: float
    contrast: float
    cluster: int = -1


def detect_calcifications(work: np.ndarray, anatomy: Anatomy, *, config: CalcConfig = CalcConfig()) -> list[Calc]:
    """Return the calcifications found in a working image, with cluster indices.

    Args:
        work: float32 [H, W] in [0, 1], chest wall left.
        anatomy: its anatomy (breast mask).
        config: detector settings.
    """
    inner = _search_mask(work.shape, anatomy, config)
    if inner.sum() < 50:
        return []
    near_skin = _near_skin(anatomy, work.shape, config)
    calcs = _detect_spots(work, inner, near_skin, config)
    return assign_clusters(_dedupe(calcs), distance_px=config.cluster_distance_frac * work.shape[0],
                           min_size=config.min_cluster_size)


def _search_mask(shape: tuple[int, int], anatomy: Anatomy, config: CalcConfig) -> np.ndarray:
    """Return bool [H, W]: the breast pixels searched (off the skin margin, the pectoral muscle and the image edge).

    The coarse mask is eroded away from the skin line only (the chest wall, left, is not skin).
    The pectoral muscle (its tip at the chest wall is a narrow bright wedge) is excluded with two
    coarse pixels of slack (its corner at the image edge looks round), and
    so are `edge_px` rows and columns at the top, bottom and right image edge (a spot cut by the
    edge cannot be measured) and at the chest wall in the rows of the muscle (+ 8 coarse rows).
    """
    cm = max(1, int(np.ceil(config.skin_margin_frac * anatomy.mask.shape[1])))
    padded = np.pad(anatomy.mask, ((cm + 1, cm + 1), (cm + 1, 0)), mode="edge")
    inner_coarse = ndi.binary_erosion(padded, iterations=cm, border_value=0)[cm + 1:-cm - 1, cm + 1:]
    inner_coarse &= ~ndi.binary_dilation(anatomy.pectoral_mask, iterations=2)
    inner = _mask_at(inner_coarse, shape, 1.0 / anatomy.factor)
    if config.edge_px > 0:
        b = config.edge_px
        inner[:b] = inner[-b:] = False
        inner[:, -b:] = False
        # at the chest wall only in the rows of the muscle (+ 8 coarse rows): its corner there looks round
        rows = ndi.binary_dilation(anatomy.pectoral_mask.any(axis=1), iterations=8)
        rows = np.repeat(rows, anatomy.factor)[:shape[0]]
        inner[:rows.size, :b] &= ~rows[:, None]
    return inner


def _detect_spots(work: np.ndarray, inner: np.ndarray, near_skin: np.ndarray, config: CalcConfig) -> list[Calc]:
    """Return the detections of the "blob" test (spot strength vs the breast's spread of it), before dedupe.

    Works on the breast's bounding box (+ a margin for the filters) and shifts the results back.
    """
    rows, cols = np.nonzero(inner.any(axis=1))[0], np.nonzero(inner.any(axis=0))[0]
    m = 3 * config.opening_px
    y0, y1 = max(0, rows[0] - m), min(work.shape[0], rows[-1] + m + 1)
    x0, x1 = max(0, cols[0] - m), min(work.shape[1], cols[-1] + m + 1)
    crop, inner_c, skin_c = work[y0:y1, x0:x1], inner[y0:y1, x0:x1], near_skin[y0:y1, x0:x1]
    opened = _opening(crop, config.opening_px)
    tophat = crop - opened
    smooth = _binomial_blur(crop)
    smooth2 = _binomial_blur(smooth)
    strength = np.maximum(_spot_strength(smooth), 2.0 * _spot_strength(smooth2))  # scale-normalised (sigma^2 = 1, 2)
    ys, xs = np.nonzero(inner_c)
    step = max(1, ys.size // 50_000)
    vals = strength[ys[::step], xs[::step]]
    med = float(np.median(vals))
    bar = max(config.min_strength, med + config.blob_k * 1.4826 * float(np.median(np.abs(vals - med))))
    # Candidates: maxima of the top-hat (the spot's grey peak) or of the spot strength (which splits
    # touching spots), bright enough in grey levels and strong enough as spots.
    cand = (tophat >= config.min_contrast) & inner_c
    ys1, xs1 = _local_maxima(tophat, *np.nonzero(cand))
    ok = _max3x3_at(strength, ys1, xs1) >= bar
    ys2, xs2 = _local_maxima(strength, *np.nonzero(cand & (strength >= bar)))
    w = crop.shape[1]
    flat = np.unique(np.concatenate([ys1[ok] * w + xs1[ok], ys2 * w + xs2]))
    ys, xs = flat // w, flat % w
    # round at either spot scale (not at the raw pixels, where a jagged slanted line looks round)
    ratio = np.maximum(_blobness_at(smooth, ys, xs), _blobness_at(smooth2, ys, xs))
    keep = ratio >= config.min_blobness
    found = (_measure(crop, opened, y, x, bool(skin_c[y, x]), config, strength)
             for y, x in zip(ys[keep], xs[keep], strict=True))
    return [Calc(c.x + x0, c.y + y0, c.diameter_px, c.contrast) for c in found if c is not None]


def _max3x3_at(values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Return the maximum of `values` over the 3x3 neighbourhood of each (y, x) (edges repeated)."""
    if ys.size == 0:
        return np.zeros(0, values.dtype)
    p = np.pad(values, 1, mode="edge")
    return np.max([p[ys + dy, xs + dx] for dy in range(3) for dx in range(3)], axis=0)


def _spot_strength(smooth: np.ndarray) -> np.ndarray:
    """Return float32 [H, W]: the smaller eigenvalue of the negated Hessian of `smooth` (central differences).

    Large only where the grey level peaks in every direction (a spot): a ridge (vessel, fibre,
    text stroke) has one eigenvalue near 0, an edge or a flat area both near 0, a valley negative.
    For a Gaussian spot of contrast c and width s blurred to width t, it is about c s^2 / t^4 at the
    centre; multiplied by the blur's variance it is comparable across scales.
    """
    p = np.pad(smooth, 1, mode="edge")
    twice = 2 * smooth
    hyy = p[:-2, 1:-1] + p[2:, 1:-1]
    hyy -= twice
    hxx = p[1:-1, :-2] + p[1:-1, 2:]
    hxx -= twice
    hxy = p[2:, 2:] + p[:-2, :-2]
    hxy -= p[2:, :-2]
    hxy -= p[:-2, 2:]
    hxy *= np.float32(0.25)
    out = hxx + hyy
    out *= np.float32(-0.5)
    root = hxx
    root -= hyy
    root *= np.float32(0.5)
    root *= root
    hxy *= hxy
    root += hxy
    out -= np.sqrt(root, out=root)
    return out


def _sliding(a: np.ndarray, size: int, axis: int, op: np.ufunc) -> np.ndarray:
    """Return the running `op` (np.minimum / np.maximum) over `size` samples centred along `axis` (edges repeated).

    Doubling spans: op of two shifted copies covers 2, then 4, ... samples: log2(size) passes.
    """
    moved = np.moveaxis(a, axis, 0)
    half = size // 2
    out = np.pad(moved, [(half, size - 1 - half)] + [(0, 0)] * (moved.ndim - 1), mode="edge")
    span = 1
    while span < size:
        shift = min(span, size - span)
        out = op(out[:-shift], out[shift:])
        span += shift
    return np.moveaxis(out, 0, axis)


def _opening(image: np.ndarray, size: int) -> np.ndarray:
    """Return the grey opening of `image` by a size x size square (separable running min, then max)."""
    out = image
    for op in (np.minimum, np.maximum):
        for axis in (0, 1):
            out = _sliding(out, size, axis, op)
    return out


def _binomial_blur(image: np.ndarray) -> np.ndarray:
    """Return float32 `image` blurred by the separable 5-tap binomial kernel [1, 4, 6, 4, 1] / 16 (variance 1 px^2), edges repeated."""
    out = image.astype(np.float32, copy=False)
    for axis in (0, 1):
        p = np.pad(out, [(2, 2) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        n = out.shape[axis]
        t = [p[k:k + n] if axis == 0 else p[:, k:k + n] for k in range(5)]
        out = (t[0] + t[4] + 4.0 * (t[1] + t[3]) + 6.0 * t[2]) * np.float32(1.0 / 16.0)
    return out


def _local_maxima(values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (ys, xs) that are maxima (>=) of their 3x3 neighbourhood in `values`."""
    p = np.pad(values, 1, mode="edge")
    v = values[ys, xs]
    keep = np.ones(ys.size, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy != 1 or dx != 1:
                keep &= v >= p[ys + dy, xs + dx]
    return ys[keep], xs[keep]


def _blobness_at(smooth: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Return, at each (y, x), lambda_small / lambda_large of the negated Hessian of `smooth`.

    1 = round bright spot, 0 = ridge (vessel, stroke, fibre), negative = not a peak in both
    directions. `smooth` is the image blurred at the spot scale (Gaussian sigma 1 px); the Hessian
    is taken by central differences.
    """
    if ys.size == 0:
        return np.zeros(0)
    p = np.pad(smooth, 1, mode="edge")
    y, x = ys + 1, xs + 1
    c = p[y, x]
    hyy = p[y - 1, x] + p[y + 1, x] - 2 * c
    hxx = p[y, x - 1] + p[y, x + 1] - 2 * c
    hxy = (p[y + 1, x + 1] + p[y - 1, x - 1] - p[y + 1, x - 1] - p[y - 1, x + 1]) / 4
    tr, root = -(hxx + hyy) / 2, np.sqrt(((hxx - hyy) / 2) ** 2 + hxy**2)
    big, small = tr + root, tr - root
    return np.where(big > 0, small / np.maximum(big, 1e-12), -1.0)


def _measure(work: np.ndarray, opened: np.ndarray, y: int, x: int, near_skin: bool,
             config: CalcConfig, strength: np.ndarray | None = None) -> Calc | None:
    """Return the Calc at peak (y, x), or None when the spot is too big, elongated or beside a bright object.

    Args:
        work: float [H, W] the working image.
        opened: float [H, W] its grey opening: the local background (objects wider than the opening).
        y, x: the candidate peak.
        near_skin: whether the peak lies within reach of a skin marker on the skin line.
        config: detector settings.
        strength: float [H, W] spot strength ("blob" test) or None. When given (and away from the
            skin line, where the full marker test stays), only pixels whose strength is at least
            `support_frac` x the peak's count as part of the spot or of a bright object around it.
    """
    r = int(np.ceil(config.max_diameter_px)) + 3
    y0, x0 = max(0, y - r), max(0, x - r)
    win = work[y0:y + r + 1, x0:x + r + 1] - opened[y0:y + r + 1, x0:x + r + 1]
    peak = float(win[y - y0, x - x0])
    reach = config.max_diameter_px / 2 + config.run_on_px + (0.0 if near_skin else config.object_slack_px)
    support = None if strength is None or near_skin else \
        (strength, config.support_frac * float(strength[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max()))
    if _part_of_bright_object(work, opened, y, x, peak, reach, config, support):
        return None
    if support is not None:
        if _runs_on_one_side(win, y - y0, x - x0, peak, config):
            return None  # the end of a line or stroke
        # only the spot's own support counts: texture ridges beside or under it do not merge with it
        keep = support[0][y0:y + r + 1, x0:x + r + 1] >= support[1]
        keep[y - y0, x - x0] = True
        win = np.where(keep, win, 0.0)
    yy, xx = np.ogrid[y0 - y:y0 - y + win.shape[0], x0 - x:x0 - x + win.shape[1]]
    dist = np.sqrt(yy**2 + xx**2)
    above = (win >= 0.5 * peak) & _own_cell(win, y - y0, x - x0, dist, peak)
    labels, _ = ndi.label(above & (dist <= config.max_diameter_px / 2 + 2))
    comp = labels == labels[y - y0, x - x0]
    ring = (dist >= config.max_diameter_px / 2 + 1.5) & (dist < config.max_diameter_px / 2 + 2.5)
    if (above & ~comp)[ring].mean() > config.max_ring_fraction:
        return None  # bright texture all around the spot: a knot of dense tissue, text or a mass edge
    if (comp & (dist > config.max_diameter_px / 2 + config.run_on_px)).any():
        return None  # the bright part runs on to one side: the end of a line or stroke
    area = int(comp.sum())
    diameter = 2.0 * np.sqrt(area / np.pi)
    if diameter > config.max_diameter_px:
        return None
    rows, cols = np.nonzero(comp)
    wts = win[comp]
    cy = float((rows * wts).sum() / wts.sum()) + y0
    cx = float((cols * wts).sum() / wts.sum()) + x0
    return Calc(cx, cy, float(diameter), peak)


def _runs_on_one_side(win: np.ndarray, py: int, px: int, peak: float, config: CalcConfig) -> bool:
    """Return whether the bright part around the peak (py, px) of a top-hat window extends to one side only.

    The part above half the peak (of the window blurred by the binomial kernel, so that a jagged,
    slanted line is continuous) connected to it, within max_diameter_px / 2 + run_on_px + 2 px and
    nearer the peak than any other clear peak of the unblurred window (a touching neighbour of a
    cluster), has its centroid further from the peak than `one_sided` x its pixels' mean distance:
    the end of a line or stroke. A spot has it at the peak, also when a ridge runs through it.
    """
    yy, xx = np.ogrid[-py:win.shape[0] - py, -px:win.shape[1] - px]
    dist = np.sqrt(yy**2 + xx**2)
    light = win
    for axis in (0, 1):
        light = ndi.correlate1d(light, [0.25, 0.5, 0.25], axis=axis, mode="nearest")
    own = _own_cell(light, py, px, dist, float(light[py, px]))
    blurred = _binomial_blur(win)
    part = (blurred >= 0.5 * float(blurred[py, px])) & (dist <= config.max_diameter_px / 2 + config.run_on_px + 2)
    labels, _ = ndi.label(part & own, structure=np.ones((3, 3), bool))
    rows, cols = np.nonzero(labels == labels[py, px])
    reach = float(np.hypot(rows - py, cols - px).mean())
    return bool(np.hypot(rows.mean() - py, cols.mean() - px) > config.one_sided * max(reach, 1.0))


def _near_skin(anatomy: Anatomy, shape: tuple[int, int], config: CalcConfig) -> np.ndarray:
    """Return bool [H, W]: breast pixels within reach of a skin marker (max diameter + 2 marker widths of the skin line).

    The skin line is the breast boundary away from the chest-wall (left) edge; measured on the
    coarse mask and brought to the working shape.
    """
    k = max(1, int(np.ceil((config.max_diameter_px + 2 * config.marker_px) / anatomy.factor)))
    outside = np.pad(~anatomy.mask, ((0, 0), (1, 0)), constant_values=False)
    near = ndi.binary_dilation(outside, iterations=k)[:, 1:] & anatomy.mask
    return _mask_at(near, shape, 1.0 / anatomy.factor)


def _part_of_bright_object(work: np.ndarray, opened: np.ndarray, y: int, x: int, peak: float, reach: float,
                           config: CalcConfig, support: tuple[np.ndarray, float] | None = None) -> bool:
    """Return whether the spot is part of a larger bright object (a skin marker's disc or ring).

    The pixels brighter than the spot's half-maximum level (local background + half its contrast)
    that connect to the peak must stay within the spot radius + `run_on_px`; a marker's rim cusp
    connects to the whole marker. Searched within `marker_px` around the spot.
    """
    r = int(np.ceil(config.max_diameter_px / 2 + config.run_on_px)) + config.marker_px
    y0, x0 = max(0, y - r), max(0, x - r)
    win = work[y0:y + r + 1, x0:x + r + 1] >= float(opened[y, x]) + 0.5 * peak
    if support is not None:
        win &= support[0][y0:y + r + 1, x0:x + r + 1] >= support[1]
        win[y - y0, x - x0] = True
    labels, _ = ndi.label(win)
    comp = labels == labels[y - y0, x - x0]
    yy, xx = np.nonzero(comp)
    return bool(np.hypot(yy + y0 - y, xx + x0 - x).max() > reach)


def _own_cell(win: np.ndarray, py: int, px: int, dist: np.ndarray, peak: float) -> np.ndarray:
    """Return bool like `win`: pixels nearer the peak (py, px) than any other clear spot peak in the window.

    Other peaks count when they are 3x3 maxima of at least 0.7 x the peak, over 2.5 px away and
    separated from it by a dip (the straight path between them falls below 0.6 x the lower one), so
    neighbouring calcifications of a cluster do not merge, while a line stays one piece.
    """
    mx = ndi.maximum_filter(win, size=3, mode="nearest")
    oy, ox = np.nonzero((win == mx) & (win >= 0.5 * peak) & (dist > 2.0))
    cell = np.ones(win.shape, bool)
    if oy.size == 0:
        return cell
    yy, xx = np.indices(win.shape)
    for qy, qx in zip(oy, ox, strict=True):
        t = np.linspace(0.0, 1.0, 9)
        path = win[np.rint(py + t * (qy - py)).astype(int), np.rint(px + t * (qx - px)).astype(int)]
        if path.min() < 0.8 * min(peak, float(win[qy, qx])):
            cell &= np.hypot(yy - py, xx - px) <= np.hypot(yy - qy, xx - qx)
    return cell


def _dedupe(calcs: list[Calc]) -> list[Calc]:
    """Return calcs without near-duplicates (plateau peaks within 1.5 px), keeping the brightest."""
    out: list[Calc] = []
    for c in sorted(calcs, key=lambda c: -c.contrast):
        if all((c.x - o.x) ** 2 + (c.y - o.y) ** 2 > 2.25 for o in out):
            out.append(c)
    return out


def assign_clusters(calcs: Sequence[Calc], *, distance_px: float, min_size: int = 3) -> list[Calc]:
    """Return calcs with `cluster` set: groups of >= min_size linked within distance_px get 0, 1, ...

    Args:
        calcs: detections.
        distance_px: single-linkage distance in pixels.
        min_size: smallest group called a cluster.
    """
    if not calcs:
        return []
    pts = np.array([[c.x, c.y] for c in calcs])
    pairs = cKDTree(pts).query_pairs(distance_px, output_type="ndarray")
    n = len(calcs)
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else \
        sp.coo_matrix((n, n))
    _, labels = connected_components(graph, directed=False)
    counts = np.bincount(labels)
    big = [lab for lab in range(counts.size) if counts[lab] >= min_size]
    index = {lab: i for i, lab in enumerate(sorted(big, key=lambda lab: int(np.argmax(labels == lab))))}
    return [Calc(c.x, c.y, c.diameter_px, c.contrast, index.get(int(labels[i]), -1)) for i, c in enumerate(calcs)]


def match_detections(found: Sequence[Calc], truth_xy: Sequence[tuple[float, float]], *,
                     tolerance_px: float = 2.5) -> tuple[int, int, int]:
    """Return (true positives, false positives, false negatives) matching detections to truth centres.

    Greedy one-to-one matching by distance within tolerance_px.

    Args:
        found: detections.
        truth_xy: true centres (x, y) in the same pixels.
        tolerance_px: largest centre distance of a match.
    """
    if not found or not truth_xy:
        return 0, len(found), len(truth_xy)
    f = np.array([[c.x, c.y] for c in found])
    t = np.array(truth_xy, dtype=np.float64)
    d = np.hypot(f[:, None, 0] - t[None, :, 0], f[:, None, 1] - t[None, :, 1])
    used_f, used_t, tp = set(), set(), 0
    for k in np.argsort(d, axis=None):
        i, j = np.unravel_index(k, d.shape)
        if d[i, j] > tolerance_px:
            break
        if i in used_f or j in used_t:
            continue
        used_f.add(i)
        used_t.add(j)
        tp += 1
    return tp, len(found) - tp, len(truth_xy) - tp


def wasserstein_1(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Return the Wasserstein-1 distance between two 1-D samples (None when either is empty)."""
    if len(a) == 0 or len(b) == 0:
        return None
    return float(wasserstein_distance(np.asarray(a, float), np.asarray(b, float)))
