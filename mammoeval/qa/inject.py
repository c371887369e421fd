"""Artifact injectors: put one known artifact of a given strength into a clean mammogram.

Used by the tests and by benchmarks/qa_detectors.py to measure each detector's precision and
recall. Every injector is a pure function ``(image, breast mask, strength, rng) -> image``: image
float32 [H, W] in [0, 1] with the chest wall LEFT, mask bool [H, W], strength in (0, 1] (1 =
blatant; >= 0.5 is "clearly visible"), and a seeded `numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

import numpy as np
from scipy import ndimage as ndi

ArtifactKind = Literal["checkerboard", "boundary", "background", "blobs", "broken", "repeats"]
Injector = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], np.ndarray]


def _interior_point(mask: np.ndarray, rng: np.random.Generator, margin: float) -> tuple[int, int]:
    """Return a random (row, col) inside the mask at least `margin` px from its edge and the image edges.

    When no point is that deep, the margin shrinks to 70% of the deepest point's depth (so an
    artifact lands inside the breast, never cut in half by the chest-wall edge).
    """
    dist = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    margin = min(margin, 0.7 * float(dist.max()))
    ok = np.argwhere(dist >= margin)
    r, c = ok[rng.integers(len(ok))]
    return int(r), int(c)


def inject_checkerboard(image: np.ndarray, mask: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Return the image with a generator-upsampling pattern in the breast.

    A random 2x2, 4x4 or 8x8 kernel (zero mean) is tiled over the image (nearest-neighbour
    upsampling leaves such a periodic imprint) with amplitude 0.03 * strength grey levels.
    """
    period = int(rng.choice([2, 4, 8]))
    kernel = rng.standard_normal((period, period))
    kernel -= kernel.mean()
    kernel /= max(float(np.abs(kernel).max()), 1e-9)
    h, w = image.shape
    pattern = np.tile(kernel, (h // period + 1, w // period + 1))[:h, :w]
    return np.clip(image + (0.03 * strength * pattern * mask), 0, 1).astype(np.float32)


def inject_boundary(image: np.ndarray, mask: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Return the image with a broken breast outline: an extra component, a hole, or a ragged skin line.

    strength scales the size: extra island radius 3-7% of the height (detached from the breast by
    at least 2% of the width), hole radius 2-6% of the height, or 80 bites up to 3% of the width
    deep along the skin line. Gap and bites are placed against the visible tissue (`_skin_line`),
    not the given mask: a mask upsampled from the analysis size may reach a few pixels past faint
    skin, where bites would fall into the background and a "detached" island could touch tissue.
    """
    h, w = image.shape
    kind = int(rng.integers(3))
    out = image.copy()
    yy, xx = np.mgrid[:h, :w]
    level = float(np.median(image[mask])) if mask.any() else 0.5
    if kind == 0:  # floating island of tissue in the background
        r = (0.03 + 0.04 * strength) * h
        gap = int(r) + 3 + int(0.02 * w)  # detached by a visible gap, not a 3-px crack
        body = mask | _visible_tissue(image, mask)  # a coarse mask may stop short of faint skin
        bg = ~ndi.binary_dilation(body, iterations=gap)
        bg &= ndi.binary_dilation(body, iterations=gap + max(2, int(0.06 * w)))
        bg[: int(r) + 2], bg[-int(r) - 2:], bg[:, : int(r) + 2], bg[:, -int(r) - 2:] = False, False, False, False
        pts = np.argwhere(bg)
        if pts.size:
            cy, cx = pts[rng.integers(len(pts))]
            out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = level
            return out.astype(np.float32)
    if kind in (0, 1):  # background-level hole inside the breast
        r = (0.02 + 0.04 * strength) * h
        cy, cx = _interior_point(mask, rng, 2 * r)
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = float(image[~mask].mean()) if (~mask).any() else 0.0
        return out.astype(np.float32)
    edge = _skin_line(image, mask)
    pts = np.argwhere(edge)
    depth = max(2.0, 0.03 * strength * w)
    for cy, cx in pts[rng.choice(len(pts), size=min(len(pts), 80), replace=False)] if len(pts) else []:
        rad = depth * rng.uniform(0.5, 1.0)
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad] = 0.0
    return out.astype(np.float32)


def _visible_tissue(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return bool [H, W]: pixels (1-px Gaussian blur) at least 10% of the way from the background
    median to the breast median grey level."""
    if not mask.any() or mask.all():
        return mask.copy()
    bg = float(np.median(image[~mask]))
    level = float(np.median(image[mask]))
    return ndi.gaussian_filter(image.astype(np.float32), 1.0) > bg + 0.1 * (level - bg)


def _skin_line(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return bool [H, W]: the visible skin line, away from the image edges.

    The given mask may be coarse (upsampled from the analysis size) and reach a few pixels past the
    visible edge of tissue, so the skin line is the outline of the largest region of the mask
    whose grey level rises at least 10% of the way from the background to the breast median.
    """
    if not mask.any() or mask.all():
        return mask & ~ndi.binary_erosion(mask, iterations=1, border_value=1)
    tissue = mask & _visible_tissue(image, mask)
    labels, n = ndi.label(tissue)
    if n == 0:
        return mask & ~ndi.binary_erosion(mask, iterations=1, border_value=1)
    main = ndi.binary_fill_holes(labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
    return main & ~ndi.binary_erosion(main, iterations=1, border_value=1)


def inject_background(image: np.ndarray, mask: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Return the image with tissue-like texture in the background (outside the breast).

    Band-limited noise (Gaussian sigma 1.5 px) of standard deviation 0.04 * strength grey levels
    over a background offset of 0.02 * strength.
    """
    noise = ndi.gaussian_filter(rng.standard_normal(image.shape), 1.5)
    noise /= max(float(noise.std()), 1e-9)
    tex = 0.02 * strength + 0.04 * strength * noise
    return np.clip(np.where(mask, image, image + tex), 0, 1).astype(np.float32)


def inject_background_variant(image: np.ndarray, mask: np.ndarray, strength: float,
                              rng: np.random.Generator) -> np.ndarray:
    """Return the image with background texture unlike `inject_background` (evaluation only).

    One of: blotchy low-frequency fog (Gaussian sigma 3-6 px, standard deviation 0.03 x strength)
    over only one half of the background (upper, lower or right); fine speckle (sigma 0.7 px,
    0.03 x strength) everywhere; or breast texture leaking across the skin line (the breast's own
    fine texture mirrored outwards, fading over 6% of the width, at 0.5 x strength of its contrast)
    plus speckle of 0.01 x strength.
    """
    h, w = image.shape
    kind = int(rng.integers(3))
    out = image.astype(np.float32).copy()
    bg = ~mask
    if kind == 0:
        tex = ndi.gaussian_filter(rng.standard_normal((h, w)), rng.uniform(3, 6))
        tex = 0.03 * strength * tex / max(float(tex.std()), 1e-9) + 0.01 * strength
        yy, xx = np.mgrid[:h, :w]
        half = [yy < h // 2, yy >= h // 2, xx >= w // 2][int(rng.integers(3))]
        out = np.where(bg & half, out + tex, out)
    elif kind == 1:
        tex = ndi.gaussian_filter(rng.standard_normal((h, w)), 0.7)
        out = np.where(bg, out + 0.03 * strength * tex / max(float(tex.std()), 1e-9), out)
    else:
        fine = image - ndi.gaussian_filter(image.astype(np.float32), 2.0)
        dist, idx = ndi.distance_transform_edt(bg, return_indices=True)
        leak = fine[idx[0], idx[1]] * np.exp(-dist / max(1.0, 0.06 * w))
        speck = ndi.gaussian_filter(rng.standard_normal((h, w)), 1.0)
        out = np.where(bg, out + 0.5 * strength * leak / max(float(np.abs(fine[mask]).mean()), 1e-6) * float(
            np.abs(fine[mask]).mean()) + 0.01 * strength * speck / max(float(speck.std()), 1e-9), out)
    return np.clip(out, 0, 1).astype(np.float32)


def inject_blobs(image: np.ndarray, mask: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Return the image with a saturated blob, a black hole or a dark halo in the breast.

    Radius 2-4% of the height; a saturated blob is set to 1 (raised half-way for strength < 0.5); a hole is darkened by a factor
    (1 - strength); a halo is a bright core with a ring darkened by (1 - strength).
    """
    h, w = image.shape
    kind = int(rng.integers(3))
    r = (0.02 + 0.02 * strength) * h
    cy, cx = _interior_point(mask, rng, 3 * r)
    yy, xx = np.mgrid[:h, :w]
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    out = image.copy()
    if kind == 0:
        disk = d2 <= r * r
        out[disk] = 1.0 if strength >= 0.5 else out[disk] + 2 * strength * (1 - out[disk])
    elif kind == 1:
        out[d2 <= r * r] *= 1.0 - strength
    else:
        ring = (d2 <= (2 * r) ** 2) & (d2 > (0.6 * r) ** 2)
        out[d2 <= (0.6 * r) ** 2] = 1.0
        out[ring] *= 1.0 - strength
    return np.clip(out, 0, 1).astype(np.float32)


def inject_blobs_variant(image: np.ndarray, mask: np.ndarray, strength: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Return the image with a blob artifact unlike `inject_blobs` (evaluation only, never used for tuning).

    One of: an elliptical dark hole with a blurred edge (sigma 1.5 px) darkened by (1 - strength);
    a halo around a bright but unsaturated core (core raised half-way to white, ring from 1.2 to 1.8
    core radii darkened by (1 - strength), soft edges); a bright Gaussian bump clipped at white (a
    saturated plateau with shoulders; peak 1 + strength). Semi-axes 1.5-5% of the height, random
    orientation and position in the breast.
    """
    h, w = image.shape
    kind = int(rng.integers(3))
    a = rng.uniform(0.015, 0.05) * h
    b = a * rng.uniform(0.6, 1.0)
    cy, cx = _interior_point(mask, rng, 2.5 * a)
    t = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    u = ((xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)) / a
    v = (-(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)) / b
    rr = np.sqrt(u * u + v * v)
    out = image.astype(np.float32).copy()
    if kind == 0:
        soft = ndi.gaussian_filter((rr <= 1).astype(np.float32), 1.5)
        out *= 1.0 - strength * soft
    elif kind == 1:
        core = ndi.gaussian_filter((rr <= 0.6).astype(np.float32), 1.0)
        ring = ndi.gaussian_filter(((rr > 0.72) & (rr <= 1.08)).astype(np.float32), 1.0)
        out = out + 0.5 * core * (1 - out)
        out *= 1.0 - strength * ring
    else:
        out = out + (1.0 + strength) * np.exp(-0.5 * (rr / 0.6) ** 2)
    return np.clip(out, 0, 1).astype(np.float32)


def inject_tiles(image: np.ndarray, mask: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Return the image with repeated tiles: one patch's texture repeated n x n times over a region.

    What a generator that copies texture produces: the fine texture (image minus its Gaussian
    blur, sigma 3 px) of one square patch of the breast (side 6-10% of the height) is repeated at
    its own period over n x n tiles (n = 2 + round(2 strength)), on top of the region's own coarse
    brightness so no block edge shows; the repeated texture replaces the original with weight
    min(1, 0.5 + strength) (exact repeats from strength 0.5).
    """
    h, w = image.shape
    t = max(6, int(rng.uniform(0.06, 0.10) * h))
    n = 2 + int(round(2 * strength))
    side = n * t
    cy, cx = _interior_point(mask, rng, 0.75 * side)
    y0, x0 = min(max(0, cy - side // 2), max(0, h - side)), min(max(0, cx - side // 2), max(0, w - side))
    sy, sx = _interior_point(mask, rng, 0.75 * t)
    sy, sx = min(max(0, sy - t // 2), h - t), min(max(0, sx - t // 2), w - t)
    low = ndi.gaussian_filter(image.astype(np.float32), 3.0)
    fine = image - low
    region = np.tile(fine[sy:sy + t, sx:sx + t], (n, n))[: h - y0, : w - x0]
    rh, rw = region.shape
    wgt = min(1.0, 0.5 + strength) * mask[y0:y0 + rh, x0:x0 + rw]
    out = image.astype(np.float32).copy()
    out[y0:y0 + rh, x0:x0 + rw] = low[y0:y0 + rh, x0:x0 + rw] + wgt * region + (1 - wgt) * fine[y0:y0 + rh, x0:x0 + rw]
    return np.clip(out, 0, 1).astype(np.float32)


def inject_tiles_variant(image: np.ndarray, mask: np.ndarray, strength: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Return the image with copy-pasted patches (evaluation only, never used for tuning).

    Unlike `inject_tiles` the copies are not periodic: one patch (side 4-14% of the height) is
    pasted, whole (texture and brightness), at 2-4 random places in the breast with a feathered
    border (Gaussian sigma 1 px) and opacity 0.6 + 0.4 strength.
    """
    h, w = image.shape
    t = max(6, int(rng.uniform(0.04, 0.14) * h))
    sy, sx = _interior_point(mask, rng, 0.75 * t)
    sy, sx = min(max(0, sy - t // 2), h - t), min(max(0, sx - t // 2), w - t)
    patch = image[sy:sy + t, sx:sx + t].astype(np.float32)
    alpha = (0.6 + 0.4 * strength) * ndi.gaussian_filter(np.pad(np.ones((t - 4, t - 4), np.float32), 2), 1.0)
    out = image.astype(np.float32).copy()
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = _interior_point(mask, rng, 0.75 * t)
        y0, x0 = min(max(0, cy - t // 2), h - t), min(max(0, cx - t // 2), w - t)
        out[y0:y0 + t, x0:x0 + t] = alpha * patch + (1 - alpha) * out[y0:y0 + t, x0:x0 + t]
    return np.clip(out, 0, 1).astype(np.float32)


def inject_broken(image: np.ndarray, mask: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Return a broken image: NaN pixels, a constant image or a nearly empty one (chosen at random).

    strength scales the NaN share (up to 1%).
    """
    kind = int(rng.integers(3))
    out = image.copy()
    if kind == 0:
        sel = rng.random(image.shape) < max(1e-4, 0.01 * strength)
        out[sel] = np.nan
        return out.astype(np.float32)
    if kind == 1:
        return np.full_like(image, float(rng.uniform(0, 1)), dtype=np.float32)
    out[:] = 0.0
    out[: max(1, image.shape[0] // 40), : max(1, image.shape[1] // 40)] = 0.8
    return out.astype(np.float32)


INJECTORS: Final[dict[ArtifactKind, Injector]] = {
    "checkerboard": inject_checkerboard,
    "boundary": inject_boundary,
    "background": inject_background,
    "blobs": inject_blobs,
    "broken": inject_broken,
    "repeats": inject_tiles,
}
"""Artifact kind -> injector; each kind is meant to be caught by the detector of the same name
("repeats" -> `inject_tiles`, caught by `mammoeval.qa.repeats.detect_repeats`)."""


def inject(kind: ArtifactKind, image: np.ndarray, mask: np.ndarray, *, strength: float,
           rng: np.random.Generator) -> np.ndarray:
    """Return a copy of `image` with artifact `kind` of `strength` injected (see INJECTORS).

    Raises:
        ValueError: unknown kind or strength outside (0, 1].
    """
    if kind not in INJECTORS:
        raise ValueError(f"unknown artifact kind {kind!r}; valid: {', '.join(INJECTORS)}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    return INJECTORS[kind](np.asarray(image, np.float32), np.asarray(mask, bool), strength, rng)


VARIANTS: Final[dict[ArtifactKind, Injector]] = {"blobs": inject_blobs_variant,
                                                 "background": inject_background_variant,
                                                 "repeats": inject_tiles_variant}
"""Evaluation-only variants of some injectors (other shapes, edges, levels): benchmarks/qa_detectors.py
reports their recall separately; no threshold was tuned on them."""
