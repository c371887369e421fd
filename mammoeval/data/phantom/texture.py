"""Parenchymal texture of a phantom: power-law noise, a glandular map of given density, strands.

Real mammographic background has an isotropic power spectrum P(f) ~ 1/f^beta with beta about 3
(Burgess et al., Med. Phys. 28:419, 2001; Heine & Velthuizen, Med. Phys. 29:647, 2002), which is
what the glandular map here is made of.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage

from mammoeval.data.phantom.anatomy import Anatomy

GLAND_SOFTNESS = 0.45
"""Width of the soft threshold that turns texture into glandular weight (texture has unit variance)."""


def power_law_noise(
    rng: np.random.Generator, shape: tuple[int, int], *, beta: float, stretch: float = 1.0
) -> np.ndarray:
    """Return float32 periodic noise of `shape`, power spectrum ~ 1/f^beta, zero mean, unit variance.

    Args:
        rng: generator (consumed).
        shape: (H, W) in pixels.
        beta: spectral exponent of the power (not the amplitude); 3 for mammographic texture.
        stretch: structures are this many times longer along x (columns) than along y.
    """
    h, w = shape
    white = rng.standard_normal((h, w), dtype=np.float32)
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :] * np.float32(stretch)
    f2 = fx**2 + fy**2
    f2[0, 0] = np.inf  # no DC term: zero mean
    spectrum = scipy.fft.rfft2(white) * f2 ** np.float32(-beta / 4.0)
    out = scipy.fft.irfft2(spectrum, s=(h, w))
    out -= out.mean()
    return (out / (out.std() + 1e-12)).astype(np.float32)


def glandular_map(
    rng: np.random.Generator, anatomy: Anatomy, *, density: float, beta: float = 3.0
) -> np.ndarray:
    """Return float32 [H, W] glandular weight in [0, 1] whose mean over the breast is about `density`.

    Power-law noise plus a smooth bump centred behind the nipple, soft-thresholded at the quantile
    that leaves the requested fraction above it; faded out in the subcutaneous fat layer near the
    skin and inside the pectoral muscle.

    Args:
        rng: generator (consumed).
        anatomy: the phantom geometry.
        density: target fibroglandular fraction in (0, 1).
        beta: spectral exponent of the texture.
    """
    mask = anatomy.breast_mask
    h, w = mask.shape
    nx, ny = anatomy.nipple_xy
    depth = max(nx, 1.0)
    noise = radial_noise(rng, (h, w), centre=(nx, ny), radius_px=0.6 * depth, beta=beta,
                         stretch=float(rng.uniform(1.5, 2.5)))
    rows = mask.sum(axis=0).max() if mask.any() else h
    cx = nx - depth * rng.uniform(0.45, 0.65)
    cy = ny + rows * rng.uniform(-0.12, 0.08)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bump = np.exp(-0.5 * (((xx - cx) / (0.45 * depth)) ** 2 + ((yy - cy) / (0.32 * rows)) ** 2))
    field = noise + rng.uniform(1.0, 2.0) * bump
    fat_px = w * rng.uniform(0.03, 0.07)
    fade = np.clip(anatomy.skin_distance_px / fat_px, 0.0, 1.0) ** 1.5 * (1.0 - anatomy.pectoral_weight)
    inside = mask & (anatomy.pectoral_weight < 0.5)
    if not inside.any():
        return np.zeros((h, w), np.float32)
    softness = GLAND_SOFTNESS
    target = float(np.clip(density, 0.02, 0.98))
    thr = _threshold_for_mean(field[inside], fade[inside], target, softness)
    weight = _sigmoid((field - thr) / softness) * fade
    return (weight * mask).astype(np.float32)


def radial_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    centre: tuple[float, float],
    radius_px: float,
    beta: float,
    stretch: float,
) -> np.ndarray:
    """Return float32 [H, W] power-law noise laid out in polar coordinates around `centre`.

    Structures are elongated along rays from `centre` (the nipple) and converge towards it, like
    ducts and the fibrous tissue around them. Warping keeps the spectral exponent, because
    power-law noise is statistically self-similar under scaling.

    Args:
        rng: generator (consumed).
        shape: (H, W) in pixels.
        centre: (x, y) of the convergence point in pixels.
        radius_px: distance from `centre` at which angular scale equals pixel scale.
        beta: spectral exponent.
        stretch: elongation along the rays.
    """
    h, w = shape
    cx, cy = centre
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(xx - cx, yy - cy)
    phi = np.arctan2(yy - cy, cx - xx)  # 0 pointing from the nipple towards the chest wall
    n_phi = max(16, int(np.ceil(2 * np.pi * radius_px)))
    n_r = max(16, int(np.ceil(r.max())) + 2)
    grid = power_law_noise(rng, (n_phi, n_r), beta=beta, stretch=stretch)
    coords = np.stack([(phi / (2 * np.pi)) * n_phi % n_phi, r])
    warped = ndimage.map_coordinates(grid, coords, order=1, mode="grid-wrap")
    # Close to the centre the angular scale shrinks to nothing: fade to isotropic noise there.
    near = np.exp(-((r / (0.35 * radius_px)) ** 2))
    iso = power_law_noise(rng, (h, w), beta=beta)
    mixed = warped * (1.0 - near) + iso * near
    return (mixed / np.sqrt((1.0 - near) ** 2 + near**2)).astype(np.float32)


def _threshold_for_mean(field: np.ndarray, fade: np.ndarray, target: float, softness: float) -> float:
    """Return the threshold t with mean(sigmoid((field - t) / softness) * fade) close to target (bisection)."""
    stride = max(1, field.size // 5000)
    sample, fade_s = field[::stride], fade[::stride]
    lo, hi = float(sample.min()) - 6 * softness, float(sample.max()) + 6 * softness
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        if float((_sigmoid((sample - mid) / softness) * fade_s).mean()) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def strands(rng: np.random.Generator, anatomy: Anatomy, *, n: int) -> np.ndarray:
    """Return float32 [H, W] in [0, 1]: thin curvilinear structures (ducts, vessels, ligaments).

    Each strand starts near the nipple and wanders towards the chest wall with a smoothly varying
    direction; strands are splatted into the image and blurred to about 1-2 pixels wide.

    Args:
        rng: generator (consumed).
        anatomy: the phantom geometry.
        n: number of strands.
    """
    mask = anatomy.breast_mask
    h, w = mask.shape
    scale = h / 320.0
    nx, ny = anatomy.nipple_xy
    acc = np.zeros((h, w), np.float32)
    step = 0.7
    for _ in range(n):
        x = nx - nx * rng.uniform(0.03, 0.35)
        y = ny + h * rng.normal(0.0, 0.08)
        angle = np.pi + rng.normal(0.0, 0.45)
        n_steps = int(nx * rng.uniform(0.3, 0.9) / step)
        turns = np.cumsum(rng.normal(0.0, 0.04 / np.sqrt(max(scale, 1.0)), n_steps))
        angles = angle + turns
        px = x + step * np.cumsum(np.cos(angles))
        py = y + step * np.cumsum(np.sin(angles))
        strength = rng.uniform(0.4, 1.0) * np.linspace(1.0, 0.3, n_steps)
        ix, iy = np.rint(px).astype(int), np.rint(py).astype(int)
        ok = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        np.add.at(acc, (iy[ok], ix[ok]), strength[ok])
    acc = ndimage.gaussian_filter(acc, sigma=0.6 * max(scale, 1.0))
    peak = float(acc.max())
    return (np.clip(acc / (0.5 * peak), 0.0, 1.0) * mask).astype(np.float32) if peak > 0 else acc
