"""Pectoral muscle of an MLO mammogram: a bright region in the upper chest-wall corner with a straight-ish boundary.

The muscle is found by a two-parameter search over straight lines running from the top edge down
to the chest wall: ``u(y) = top * (1 - y / reach)``, where ``u`` is the distance from the breast's
own leftmost column in that row (scanned films have black padding left of the chest wall, so the
image edge is not the chest wall). The line with the strongest bright-inside / darker-outside step
along its length wins; it is accepted as a pectoral muscle only when

- the region inside is clearly brighter than the tissue just outside, relative to the spread of
  the breast's grey levels (`min_contrast`),
- the step is there along most of the boundary (`min_edge_fraction`), not at one dense knot,
- the region is 3-35% of the breast, the line leaves the breast through the image's top edge
  (the axilla; a line leaving through the skin line is a CC outline), and its angle from
  vertical is 8-70 degrees.

The search runs on a small image (`search_height` rows, a few milliseconds); the mask and the
measures are given at the coarse anatomy resolution. Input is in canonical orientation (chest
wall left): `compute_anatomy` flips by its chest-wall side estimate before calling this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class PectoralConfig:
    """Pectoral search and acceptance settings.

    Attributes:
        search_height: rows of the image the line search runs on.
        n_top, n_reach: grid sizes of the two line parameters (top intercept, chest-wall row).
        max_reach: largest chest-wall row searched, in image heights (a steep muscle leaves the
            image before it meets the chest wall).
        gammas: boundary curvatures searched (u = top * (1 - y / reach) ** gamma; < 1 bows outwards).
        strip_frac: width of the strips compared on either side of the line, as a fraction of the
            median breast width in the upper half.
        min_contrast: mean inside minus mean of an equally wide band outside, over the 10-90%
            grey-level spread of the breast. Tune data (real-dev even files, phantom seeds 0-19):
            MLO muscles at least 0.29, CC candidates passing the other tests at most 0.21; 0.25
            sits between them.
        min_edge_fraction: share of the boundary rows whose step exceeds `edge_step` x spread (tune
            MLO at least 0.63; CC candidates mostly 0.2-0.6: dense tissue gives a patchy edge).
        edge_step: per-row step counted as an edge, in units of the spread.
        min_area, max_area: accepted region area as a fraction of the breast area (tune MLO 0.065-0.32;
            bright chest-wall bands of CC views are slivers of 0.004-0.03).
        min_angle_deg, max_angle_deg: accepted angle of the line from vertical (tune MLO 14-40 deg,
            CC chest-wall bands 0-3 deg).
    """

    search_height: int = 128
    n_top: int = 16
    n_reach: int = 16
    max_reach: float = 2.5
    gammas: tuple[float, ...] = (0.7, 1.0)
    strip_frac: float = 0.08
    min_contrast: float = 0.25
    min_edge_fraction: float = 0.6
    edge_step: float = 0.08
    min_area: float = 0.03
    max_area: float = 0.35
    min_angle_deg: float = 8.0
    max_angle_deg: float = 70.0


@dataclass(frozen=True)
class Pectoral:
    """Pectoral muscle found at the upper chest-wall corner (chest wall left).

    Attributes:
        present: whether the best line passed every acceptance test.
        area_fraction: region area / breast area (0 when absent).
        angle_deg: angle of the boundary line from vertical in degrees (0 when absent); the line
            runs from the top edge down to the chest wall.
        mask: bool [h, w] the region at the input resolution (all False when absent).
        contrast: the best line's inside-minus-outside contrast over the breast's spread (0 if none).
        edge_fraction: share of its boundary rows with a clear step (0 if none).
    """

    present: bool
    area_fraction: float
    angle_deg: float
    mask: np.ndarray
    contrast: float = 0.0
    edge_fraction: float = 0.0


@dataclass(frozen=True)
class _Line:
    """A candidate boundary in search pixels: u(y) = top * (1 - y / reach) ** gamma for y < reach."""

    top: float
    reach: float
    gamma: float
    score: float


def detect_pectoral(coarse: np.ndarray, mask: np.ndarray, *, config: PectoralConfig = PectoralConfig()) -> Pectoral:
    """Return the pectoral muscle of a breast in canonical orientation (chest wall left), if present.

    Args:
        coarse: float [h, w] image in [0, 1], chest wall left.
        mask: bool [h, w] breast mask (holes filled), chest wall left.
        config: search and acceptance settings.
    """
    none = Pectoral(False, 0.0, 0.0, np.zeros(mask.shape, bool))
    if mask.sum() < 100:
        return none
    f = max(1, int(round(mask.shape[0] / config.search_height)))
    small = ndi.uniform_filter(coarse.astype(np.float32), f)[f // 2::f, f // 2::f]
    small_mask = mask[f // 2::f, f // 2::f]
    small = ndi.gaussian_filter(small, 1.0)
    lo, hi = np.percentile(small[small_mask], [10, 90])
    spread = float(max(hi - lo, 1e-3))
    rows = _RowProfiles.build(small, small_mask)
    if rows.n_valid < 8:
        return none
    line = _search(rows, config)
    if line is None:
        return none
    contrast, edge_fraction = _validate(rows, line, spread, config)
    full = _region(mask, line, f)
    area = float(full.sum() / mask.sum())
    angle = float(np.degrees(np.arctan2(line.top, line.reach)))
    ok = (_meets_top_edge(rows, line) and contrast >= config.min_contrast and edge_fraction >= config.min_edge_fraction
          and config.min_area <= area <= config.max_area
          and config.min_angle_deg <= angle <= config.max_angle_deg)
    if not ok:
        return Pectoral(False, 0.0, 0.0, np.zeros(mask.shape, bool), contrast, edge_fraction)
    return Pectoral(True, area, angle, full, contrast, edge_fraction)


@dataclass(frozen=True)
class _RowProfiles:
    """Each row of the breast re-indexed from its own leftmost tissue column.

    Attributes:
        csum: float64 [h, W+1] cumulative sum along u of the grey level (0 past the row's tissue).
        length: int [h] tissue run length per row from its leftmost column (0 for empty rows).
        width: median run length over the rows of the upper half (search scale).
    """

    csum: np.ndarray
    length: np.ndarray
    width: float

    @property
    def n_valid(self) -> int:
        """Return the number of rows holding tissue."""
        return int((self.length > 0).sum())

    @staticmethod
    def build(img: np.ndarray, mask: np.ndarray) -> _RowProfiles:
        """Return the profiles of `img` inside `mask` (bool, same shape)."""
        h, w = mask.shape
        has = mask.any(axis=1)
        left = np.where(has, np.argmax(mask, axis=1), 0)
        right = np.where(has, w - np.argmax(mask[:, ::-1], axis=1), 0)
        length = np.where(has, right - left, 0)
        cols = left[:, None] + np.arange(w)[None, :]
        valid = np.arange(w)[None, :] < length[:, None]
        vals = np.where(valid, img[np.arange(h)[:, None], np.minimum(cols, w - 1)], 0.0)
        csum = np.concatenate([np.zeros((h, 1)), np.cumsum(vals, axis=1, dtype=np.float64)], axis=1)
        upper = length[: h // 2][length[: h // 2] > 0]
        width = float(np.median(upper)) if upper.size else float(max(1, length.max()))
        return _RowProfiles(csum, length, width)

    def strip_means(self, u0: np.ndarray, u1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (mean grey of columns [u0, u1) per row, bool valid) for [h, k] integer bounds."""
        h = self.csum.shape[0]
        lim = self.length[:, None]
        a, b = np.clip(u0, 0, lim), np.clip(u1, 0, lim)
        r = np.arange(h)[:, None]
        n = b - a
        s = self.csum[r, b] - self.csum[r, a]
        return s / np.maximum(n, 1), n >= np.maximum(1, (u1 - u0) // 2)


def _search(rows: _RowProfiles, config: PectoralConfig) -> _Line | None:
    """Return the line with the largest mean bright-inside minus darker-outside step, or None.

    A coarse grid over (top, reach, gamma) first, then a finer grid around its best cell.
    """
    h = rows.csum.shape[0]
    tops = np.linspace(0.06, 0.75, config.n_top) * rows.width
    reaches = np.geomspace(0.15, config.max_reach, config.n_reach) * h
    best = _best_on_grid(rows, tops, reaches, np.asarray(config.gammas), config)
    if best is None:
        return None
    dt, dr = tops[1] - tops[0], reaches[1] / reaches[0]
    fine_t = best.top + np.linspace(-dt, dt, 5)
    fine_r = best.reach * dr ** np.linspace(-1, 1, 5)
    fine = _best_on_grid(rows, fine_t[fine_t > 0], fine_r, np.array([best.gamma]), config)
    return fine if fine is not None and fine.score >= best.score else best


def _best_on_grid(rows: _RowProfiles, tops: np.ndarray, reaches: np.ndarray, gammas: np.ndarray,
                  config: PectoralConfig) -> _Line | None:
    """Return the plausible-area candidate of the grid with the largest mean step, or None."""
    h = rows.csum.shape[0]
    t, r, g = (a.ravel() for a in np.meshgrid(tops, reaches, gammas, indexing="ij"))
    u = _boundary(t, r, g, h)
    d = max(2, int(round(config.strip_frac * rows.width)))
    step, on = _steps(rows, u, d)
    n_on = on.sum(axis=0)
    area = np.minimum(u, rows.length[:, None]).sum(axis=0) / max(1, int(rows.length.sum()))
    plausible = (n_on >= 0.1 * h) & (area >= config.min_area) & (area <= config.max_area)
    mean_step = np.where(plausible, (step * on).sum(axis=0) / np.maximum(n_on, 1), -np.inf)
    k = int(np.argmax(mean_step))
    if not np.isfinite(mean_step[k]) or mean_step[k] <= 0:
        return None
    return _Line(float(t[k]), float(r[k]), float(g[k]), float(mean_step[k]))


def _boundary(tops: np.ndarray, reaches: np.ndarray, gammas: np.ndarray, h: int) -> np.ndarray:
    """Return float [h, k]: u(y) = top * (1 - y / reach) ** gamma (0 below the reach) per candidate."""
    y = np.arange(h, dtype=np.float32)[:, None]
    s = np.maximum(1.0 - y / reaches[None, :].astype(np.float32), 0.0)
    curved = gammas != 1.0
    if curved.any():
        s[:, curved] = s[:, curved] ** gammas[None, curved].astype(np.float32)
    return tops[None, :] * s


def _steps(rows: _RowProfiles, boundary: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (step [h, k] inside-strip minus outside-strip mean, bool [h, k] rows on the line).

    Args:
        rows: the breast's row profiles.
        boundary: float [h, k] boundary column u(y) of k candidates.
        d: strip width in pixels.
    """
    u = np.rint(boundary).astype(np.int64)
    inside, ok_in = rows.strip_means(u - d, u)
    outside, ok_out = rows.strip_means(u, u + d)
    on = (u >= 1) & ok_in & ok_out & (rows.length[:, None] > 0)
    return inside - outside, on


def _meets_top_edge(rows: _RowProfiles, line: _Line) -> bool:
    """Return whether the breast reaches the image top and the line leaves it through the top edge.

    In an MLO view the muscle's boundary runs from the top edge of the image (inside the breast's
    top row, the axilla) down to the chest wall; a line that leaves through the skin line is a
    curve of a CC outline, not a muscle.
    """
    h = rows.length.size
    tissue = np.nonzero(rows.length > 0)[0]
    if tissue.size == 0 or tissue[0] > 0.05 * h:
        return False
    top_len = float(np.median(rows.length[tissue[0]:tissue[0] + 3]))
    return line.top <= 0.95 * top_len


def _validate(rows: _RowProfiles, line: _Line, spread: float, config: PectoralConfig) -> tuple[float, float]:
    """Return (region contrast over spread, share of boundary rows with a clear step) of a line."""
    t, r, g = np.array([line.top]), np.array([line.reach]), np.array([line.gamma])
    u = np.rint(_boundary(t, r, g, rows.csum.shape[0])).astype(np.int64)
    zero = np.zeros_like(u)
    inside, ok_in = rows.strip_means(zero, u)
    outside, ok_out = rows.strip_means(u, 2 * u)
    on = ((u >= 1) & ok_in & ok_out)[:, 0]
    if on.sum() < 3:
        return 0.0, 0.0
    n_in = u[on, 0].astype(np.float64)
    contrast = float(((inside[on, 0] - outside[on, 0]) * n_in).sum() / n_in.sum()) / spread
    d = max(2, int(round(config.strip_frac * rows.width)))
    step, on_edge = _steps(rows, _boundary(t, r, g, rows.csum.shape[0]), d)
    step = step[on_edge[:, 0], 0]
    edge_fraction = float((step >= config.edge_step * spread).mean()) if step.size else 0.0
    return contrast, edge_fraction


def _region(mask: np.ndarray, line: _Line, factor: int) -> np.ndarray:
    """Return bool [h, w]: breast pixels left of the line (given in search pixels) at mask resolution."""
    h, w = mask.shape
    has = mask.any(axis=1)
    left = np.where(has, np.argmax(mask, axis=1), 0)
    y = (np.arange(h) + 0.5) / factor - 0.5
    u = line.top * np.clip(1.0 - y / line.reach, 0.0, None) ** line.gamma * factor
    cols = np.arange(w)[None, :] - left[:, None]
    return mask & (cols >= 0) & (cols + 0.5 < u[:, None])
