"""Breast outline, pectoral muscle and distance to the skin of a phantom, in canonical orientation.

The outline is a per-row extent ``x_edge[y]``: row ``y`` holds breast tissue in columns ``x`` with
``x + 0.5 < x_edge[y]``, so the chest wall is the left image edge and every row is one run of
tissue, as in a compressed breast. CC: a slightly asymmetric super-ellipse half against the chest
wall. MLO: longer, with the axillary tail reaching the top edge, the nipple below the middle and
the inframammary fold near the bottom; the pectoral muscle is the region left of a slightly curved
line from the top edge to the chest wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Anatomy:
    """The geometry of one phantom.

    Attributes:
        breast_mask: bool [H, W].
        pectoral_weight: float32 [H, W] in [0, 1], 1 inside the pectoral muscle, a 2-pixel soft
            edge, 0 elsewhere (all 0 for CC).
        skin_distance_px: float32 [H, W], Euclidean distance (pixels) to the nearest pixel outside
            the breast (image edges do not count as skin); 0 outside.
        x_edge: float64 [H], breast extent per row in pixels.
        nipple_xy: (x, y) of the nipple tip in pixels.
    """

    breast_mask: np.ndarray
    pectoral_weight: np.ndarray
    skin_distance_px: np.ndarray
    x_edge: np.ndarray
    nipple_xy: tuple[float, float]

    @property
    def pectoral_mask(self) -> np.ndarray:
        """bool [H, W]: the pectoral muscle (weight >= 0.5) within the breast."""
        return (self.pectoral_weight >= 0.5) & self.breast_mask


def make_anatomy(rng: np.random.Generator, *, height: int, width: int, view: str) -> Anatomy:
    """Return a random breast geometry of the given view at height x width pixels.

    Args:
        rng: the image's generator (consumed).
        height, width: image size in pixels.
        view: "CC" or "MLO".
    """
    ys = np.arange(height, dtype=np.float64)
    if view == "CC":
        x_edge, y_nipple = _cc_profile(rng, ys, height, width)
    else:
        x_edge, y_nipple = _mlo_profile(rng, ys, height, width)
    x_edge = x_edge * _wobble(rng, ys / height, amplitude=0.02)
    x_edge, nipple_xy = _add_nipple(rng, x_edge, ys, y_nipple, height)
    x_edge = np.minimum(x_edge, width - 1.0)
    cols = np.arange(width, dtype=np.float64)[None, :]
    mask = (cols + 0.5) < x_edge[:, None]
    dist = ndimage.distance_transform_edt(mask).astype(np.float32)
    if view == "MLO":
        pect = _pectoral_weight(rng, ys, cols, height, width, x_edge) * mask
    else:
        pect = np.zeros((height, width), np.float32)
    return Anatomy(mask, pect.astype(np.float32), dist, x_edge, nipple_xy)


def _cc_profile(rng: np.random.Generator, ys: np.ndarray, h: int, w: int) -> tuple[np.ndarray, float]:
    """Half super-ellipse against the chest wall, different half-heights above and below the nipple."""
    cy = h * rng.uniform(0.44, 0.56)
    b_top = h * rng.uniform(0.4, 0.56)
    b_bot = h * rng.uniform(0.4, 0.56)
    depth = w * rng.uniform(0.6, 0.86)
    p = rng.uniform(1.7, 2.3)
    t = np.where(ys < cy, (cy - ys) / b_top, (ys - cy) / b_bot)
    x_edge = depth * np.clip(1.0 - np.clip(t, 0, 1) ** p, 0.0, 1.0) ** (1.0 / p)
    return x_edge, cy


def _mlo_profile(rng: np.random.Generator, ys: np.ndarray, h: int, w: int) -> tuple[np.ndarray, float]:
    """Axillary tail at the top edge, widest at the nipple, closing at the inframammary fold."""
    y_n = h * rng.uniform(0.52, 0.66)
    y_fold = h * rng.uniform(0.9, 1.08)
    depth = w * rng.uniform(0.62, 0.86)
    top = depth * rng.uniform(0.1, 0.4)
    p_up = rng.uniform(1.5, 2.2)
    p_low = rng.uniform(2.0, 2.8)
    # The upper contour starts above the image, so it enters the top edge at a slant (axillary tail)
    # instead of with the vertical tangent a super-ellipse has at its end.
    y_start = -y_n * rng.uniform(0.25, 0.6)
    s_up = np.clip((y_n - ys) / (y_n - y_start), 0.0, 1.0)
    upper = top + (depth - top) * (1.0 - s_up**p_up) ** (1.0 / p_up)
    s_low = np.clip((ys - y_n) / (y_fold - y_n), 0.0, 1.0)
    lower = depth * np.clip(1.0 - s_low**p_low, 0.0, 1.0) ** (1.0 / p_low)
    return np.where(ys <= y_n, upper, lower), y_n


def _wobble(rng: np.random.Generator, v: np.ndarray, *, amplitude: float) -> np.ndarray:
    """Return 1 + a smooth random perturbation (three low harmonics) of relative size ~amplitude."""
    out = np.ones_like(v)
    for k in (1, 2, 3):
        out += amplitude / k * rng.uniform(-1, 1) * np.sin(2 * np.pi * k * v + rng.uniform(0, 2 * np.pi))
    return out


def _add_nipple(
    rng: np.random.Generator, x_edge: np.ndarray, ys: np.ndarray, y_nipple: float, h: int
) -> tuple[np.ndarray, tuple[float, float]]:
    """Return the profile with a small rounded protrusion at the front, and the nipple tip (x, y)."""
    radius = max(1.0, h * rng.uniform(0.012, 0.022))
    near = np.abs(ys - y_nipple) <= 3 * radius
    # The tip sits on the front-most row near the nominal nipple level, so the bump stays in front.
    y_tip = float(ys[near][np.argmax(x_edge[near])]) if near.any() else y_nipple
    bump = 0.8 * radius * np.sqrt(np.clip(1.0 - ((ys - y_tip) / radius) ** 2, 0.0, 1.0))
    out = x_edge + bump
    return out, (float(out[int(y_tip)]) - 0.5, y_tip)


def _pectoral_weight(
    rng: np.random.Generator, ys: np.ndarray, cols: np.ndarray, h: int, w: int, x_edge: np.ndarray
) -> np.ndarray:
    """Return the pectoral muscle weight: left of x_p(y), a convex curve from the top edge to the chest wall."""
    top_width = min(w * rng.uniform(0.24, 0.42), 0.8 * float(x_edge[0]))
    length = h * rng.uniform(0.42, 0.75)
    gamma = rng.uniform(0.75, 1.0)  # < 1 bows the boundary outwards (convex towards the breast)
    s = np.clip(1.0 - ys / length, 0.0, 1.0)
    x_p = top_width * s**gamma * _wobble(rng, ys / h, amplitude=0.015)
    soft = max(1.0, h / 320.0)
    return np.clip((x_p[:, None] - cols) / (2 * soft) + 0.5, 0.0, 1.0).astype(np.float32)


def skin_mask(anatomy: Anatomy) -> np.ndarray:
    """Return bool [H, W]: breast pixels on the skin line (touching the background), image edges excluded."""
    m = anatomy.breast_mask
    return m & ~ndimage.binary_erosion(m, border_value=1)
