"""Findings drawn into a phantom, each with its ground truth: calcifications, skin markers, view text."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from mammoeval.data.phantom.anatomy import Anatomy, skin_mask
from mammoeval.data.phantom.truth import Calcification, FindingsConfig, SkinMarker, TextBox

_EDGE_MARGIN_PX = 3.0
"""Calcification centres lie at least this far inside the skin and outside the pectoral muscle."""


def draw_calcifications(
    rng: np.random.Generator, image: np.ndarray, anatomy: Anatomy, cfg: FindingsConfig
) -> tuple[Calcification, ...]:
    """Add calcifications to `image` in place; return their truth (empty when none are drawn).

    Args:
        rng: generator (consumed).
        image: float32 [H, W] in [0, 1], modified in place.
        anatomy: the phantom geometry; every centre lies in the breast, off the pectoral muscle.
        cfg: probabilities, counts, diameters and contrasts.
    """
    if rng.random() >= cfg.p_calcifications:
        return ()
    allowed = anatomy.breast_mask & (anatomy.skin_distance_px > _EDGE_MARGIN_PX) & (anatomy.pectoral_weight == 0)
    if not allowed.any():
        return ()
    centres: list[tuple[float, float, int]] = []
    if rng.random() < cfg.p_cluster:
        centres += _cluster_centres(rng, allowed, cfg)
    n_single = int(rng.integers(cfg.n_single[0], cfg.n_single[1] + 1))
    if not centres:
        n_single = max(n_single, 1)
    centres += [(x, y, -1) for x, y in _points_in(rng, allowed, n_single)]
    out = []
    for x, y, cluster in centres:
        diameter = float(rng.uniform(*cfg.diameter_px))
        contrast = _add_spot(image, x, y, diameter, float(rng.uniform(*cfg.contrast)))
        out.append(Calcification(round(x, 3), round(y, 3), round(diameter, 4), round(contrast, 4), cluster))
    return tuple(out)


def _cluster_centres(
    rng: np.random.Generator, allowed: np.ndarray, cfg: FindingsConfig
) -> list[tuple[float, float, int]]:
    """Return 3-10 (x, y, cluster 0) centres within cfg.cluster_radius_px of a random point."""
    h = allowed.shape[0]
    radius = cfg.cluster_radius_px * h / 320.0
    (cx, cy), = _points_in(rng, allowed, 1)
    size = int(rng.integers(cfg.cluster_size[0], cfg.cluster_size[1] + 1))
    out: list[tuple[float, float, int]] = []
    for _ in range(50 * size):
        if len(out) == size:
            break
        r = radius * np.sqrt(rng.random())
        a = rng.uniform(0, 2 * np.pi)
        x, y = cx + r * np.cos(a), cy + r * np.sin(a)
        if _is_allowed(allowed, x, y):
            out.append((x, y, 0))
    return out


def _points_in(rng: np.random.Generator, allowed: np.ndarray, n: int) -> list[tuple[float, float]]:
    """Return n random sub-pixel (x, y) points whose pixels are in `allowed`."""
    rows, cols = np.nonzero(allowed)
    pick = rng.integers(0, rows.size, n)
    jitter = rng.uniform(-0.45, 0.45, (n, 2))
    return [(float(cols[i] + j[0]), float(rows[i] + j[1])) for i, j in zip(pick, jitter, strict=True)]


def _is_allowed(allowed: np.ndarray, x: float, y: float) -> bool:
    r, c = int(round(y)), int(round(x))
    return 0 <= r < allowed.shape[0] and 0 <= c < allowed.shape[1] and bool(allowed[r, c])


def _add_spot(image: np.ndarray, x: float, y: float, diameter: float, contrast: float) -> float:
    """Add an anti-aliased disc of `diameter` px and peak `contrast` at (x, y); return the contrast achieved."""
    r0, r1, c0, c1, rr = _window(image.shape, x, y, diameter / 2 + 1)
    profile = np.clip(diameter / 2 + 0.5 - rr, 0.0, 1.0)
    patch = image[r0:r1, c0:c1]
    centre = patch[int(round(y)) - r0, int(round(x)) - c0]
    achieved = min(contrast, 1.0 - float(centre))
    image[r0:r1, c0:c1] = np.minimum(patch + contrast * profile, 1.0)
    return achieved


def _window(
    shape: tuple[int, ...], x: float, y: float, radius: float
) -> tuple[int, int, int, int, np.ndarray]:
    """Return the pixel window around (x, y) and the distance of each of its pixels to (x, y)."""
    h, w = shape
    r0, r1 = max(0, int(np.floor(y - radius))), min(h, int(np.ceil(y + radius)) + 1)
    c0, c1 = max(0, int(np.floor(x - radius))), min(w, int(np.ceil(x + radius)) + 1)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    return r0, r1, c0, c1, np.hypot(xx - x, yy - y)


def draw_marker(
    rng: np.random.Generator, image: np.ndarray, anatomy: Anatomy, cfg: FindingsConfig
) -> tuple[SkinMarker, ...]:
    """Draw at most one bright round skin marker (ring or disc) centred on the skin line; return its truth."""
    if rng.random() >= cfg.p_marker:
        return ()
    skin = skin_mask(anatomy)
    rows, cols = np.nonzero(skin)
    front = cols >= 0.3 * cols.max() if cols.size else cols
    if not front.any():
        return ()
    i = rng.choice(np.flatnonzero(front))
    x, y = float(cols[i]), float(rows[i])
    h = image.shape[0]
    radius = max(2.0, float(rng.uniform(*cfg.marker_radius_px)) * h / 320.0)
    _r0, _r1, _c0, _c1, rr = _window(image.shape, x, y, radius + 1)
    if rng.random() < 0.5:
        profile = np.clip(radius + 0.5 - rr, 0.0, 1.0)
    else:
        half_width = max(0.8, 0.18 * radius)
        profile = np.clip(half_width + 0.5 - np.abs(rr - (radius - half_width)), 0.0, 1.0)
    level = float(rng.uniform(0.85, 1.0))
    patch = image[_r0:_r1, _c0:_c1]
    image[_r0:_r1, _c0:_c1] = np.maximum(patch, level * profile)
    return (SkinMarker(x, y, round(radius, 4)),)


def draw_text(
    rng: np.random.Generator,
    image: np.ndarray,
    anatomy: Anatomy,
    cfg: FindingsConfig,
    *,
    text: str,
    mirrored: bool,
) -> tuple[TextBox, ...]:
    """Burn `text` into a corner clear of the breast; return its box (empty when none fits or none is drawn).

    Args:
        rng: generator (consumed).
        image: float32 [H, W] in [0, 1], modified in place.
        anatomy: the phantom geometry.
        cfg: findings options (`p_text`).
        text: e.g. "L CC".
        mirrored: draw the text mirrored (right breasts: the text was upright before canonical flipping).
    """
    if rng.random() >= cfg.p_text:
        return ()
    glyphs = _text_patch(text, scale=max(1, int(round(image.shape[0] / 320))))
    if mirrored:
        glyphs = glyphs[:, ::-1]
    th, tw = glyphs.shape
    h, w = image.shape
    margin = max(2, h // 40)
    clear = ndimage.binary_dilation(anatomy.breast_mask, iterations=margin)
    corners = [(margin, w - margin - tw), (h - margin - th, w - margin - tw), (margin, margin), (h - margin - th, margin)]
    first_two = corners[:2] if rng.random() < 0.5 else corners[1::-1]
    for r0, c0 in first_two + corners[2:]:
        if r0 < 0 or c0 < 0 or r0 + th > h or c0 + tw > w or clear[r0 : r0 + th, c0 : c0 + tw].any():
            continue
        level = float(rng.uniform(0.85, 1.0))
        region = image[r0 : r0 + th, c0 : c0 + tw]
        image[r0 : r0 + th, c0 : c0 + tw] = np.maximum(region, level * glyphs)
        lit_r, lit_c = np.nonzero(glyphs > 0)
        return (TextBox(c0 + int(lit_c.min()), r0 + int(lit_r.min()), c0 + int(lit_c.max()) + 1,
                        r0 + int(lit_r.max()) + 1, text),)
    return ()


def _text_patch(text: str, *, scale: int) -> np.ndarray:
    """Return float32 [h, w] in [0, 1]: `text` in PIL's default font, upsampled by an integer `scale`."""
    font = ImageFont.load_default()
    left, top, right, bottom = (int(v) for v in ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font))
    im = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(im).text((1 - left, 1 - top), text, fill=255, font=font)
    arr = np.asarray(im, dtype=np.float32) / 255.0
    return np.kron(arr, np.ones((scale, scale), np.float32)) if scale > 1 else arr
