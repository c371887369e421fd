"""Calcification detection in one mammogram, and per-set statistics compared real vs generated.

A calcification is a small bright spot inside the breast (1-4 px at the working resolution). The
detector is a white top-hat (grey level minus a grey opening of 7x7 px) with a contrast threshold
against the noise and the texture of the breast, keeping round peaks (Hessian eigenvalue ratio); spots are sized at half their peak and rejected when too big (skin
markers, masses) or elongated (vessels, text strokes); detections closer than 2% of the width to
the skin line are dropped (markers sit on it). Clusters are groups of at least 3 detections
linked within `cluster_distance` (single linkage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from mammoeval.qa.anatomy import Anatomy


@dataclass(frozen=True)
class CalcConfig:
    """Calcification detector settings (pixels are working-resolution pixels).

    Attributes:
        opening_px: side of the square grey opening; spots narrower than this pass the top-hat.
        min_contrast: smallest top-hat peak counted, in grey levels of [0, 1].
        noise_k: the peak must also exceed noise_k x the local noise (robust std of the fine residual).
        max_diameter_px: largest half-maximum diameter kept (bigger = marker or mass).
        max_elongation: largest (bounding-box side / diameter) kept (bigger = vessel or text stroke).
        texture_k: the peak must also exceed texture_k x the 90th percentile of the top-hat in the
            breast (dense fibrous texture has small bright knots of its own).
        min_blobness: smallest ratio of the Hessian eigenvalues at the peak (sigma 1 px): round
            spots are near 1, ridges (vessels, strokes, texture fibres) near 0.
        skin_margin_frac: detections closer to the skin line than this fraction of the width are dropped.
        cluster_distance_frac: linking distance for clusters, as a fraction of the image height.
        min_cluster_size: members needed for a cluster.
    """

    opening_px: int = 7
    min_contrast: float = 0.04
    noise_k: float = 6.0
    max_diameter_px: float = 4.6
    max_elongation: float = 2.5
    min_blobness: float = 0.35
    texture_k: float = 4.0
    skin_margin_frac: float = 0.02
    cluster_distance_frac: float = 0.05
    min_cluster_size: int = 3


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
    from mammoeval.qa.artifacts import _mask_at

    h, w = work.shape
    # Erode the coarse mask away from the skin line only (the chest wall, left, is not skin).
    cm = max(1, int(np.ceil(config.skin_margin_frac * anatomy.mask.shape[1])))
    padded = np.pad(anatomy.mask, ((0, 0), (cm + 1, 0)), mode="edge")
    inner_coarse = ndi.binary_erosion(padded, iterations=cm, border_value=0)[:, cm + 1:]
    inner = _mask_at(inner_coarse, work.shape, 1.0 / anatomy.factor)
    if inner.sum() < 50:
        return []
    tophat = work - ndi.grey_opening(work, size=(config.opening_px, config.opening_px))
    smooth = ndi.gaussian_filter(work, 1.0)
    step = max(1, int(inner.sum()) // 200_000)
    vals = (work - smooth)[inner][::step]
    noise = float(1.4826 * np.median(np.abs(vals - np.median(vals))))
    texture = float(np.percentile(tophat[inner][::step], 90))
    thr = max(config.min_contrast, config.noise_k * noise, config.texture_k * texture)
    peaks = (tophat >= thr) & inner
    peaks &= tophat == ndi.maximum_filter(tophat, size=3)
    ys, xs = np.nonzero(peaks)
    keep = _blobness_at(smooth, ys, xs) >= config.min_blobness
    calcs = [c for c in (_measure(tophat, y, x, config) for y, x in zip(ys[keep], xs[keep], strict=True))
             if c is not None]
    calcs = _dedupe(calcs)
    return assign_clusters(calcs, distance_px=config.cluster_distance_frac * h,
                           min_size=config.min_cluster_size)


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


def _measure(tophat: np.ndarray, y: int, x: int, config: CalcConfig) -> Calc | None:
    """Return the Calc at peak (y, x), or None when the spot is too big or elongated."""
    r = int(np.ceil(config.max_diameter_px)) + 3
    y0, x0 = max(0, y - r), max(0, x - r)
    win = tophat[y0:y + r + 1, x0:x + r + 1]
    peak = float(tophat[y, x])
    yy, xx = np.ogrid[y0 - y:y0 - y + win.shape[0], x0 - x:x0 - x + win.shape[1]]
    dist = np.sqrt(yy**2 + xx**2)
    above = win >= 0.5 * peak
    ring = (dist >= config.max_diameter_px / 2 + 1.5) & (dist < config.max_diameter_px / 2 + 2.5)
    if above[ring].mean() > 0.35:
        return None  # the bright part goes on around the peak: a marker, mass or text, not a spot
    labels, _ = ndi.label(above & (dist <= config.max_diameter_px / 2 + 2))
    comp = labels == labels[y - y0, x - x0]
    if (comp & (dist > config.max_diameter_px / 2 + 1.2)).any():
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
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pts = np.array([[c.x, c.y] for c in calcs])
    pairs = cKDTree(pts).query_pairs(distance_px, output_type="ndarray")
    import scipy.sparse as sp

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
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.asarray(a, float), np.asarray(b, float)))
