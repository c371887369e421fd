"""Breast anatomy from one grey mammogram: breast mask, chest-wall side, shape measures, pectoral muscle.

Every function is a pure function of a float image in [0, 1] (background dark, tissue bright) and
works at a coarse analysis size (about 256 px high) so that it costs a few milliseconds; the
detectors in `artifacts.py` and `calcifications.py` share one `Anatomy` per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import find_contours

from mammoeval.core.imageops import box_reduce, chest_wall_side, reduce_to_height
from mammoeval.qa.pectoral import detect_pectoral

ChestWallSide = Literal["left", "right"]

COARSE_HEIGHT = 256
"""Height in pixels of the coarse image on which anatomy is measured."""


@dataclass(frozen=True)
class Anatomy:
    """Breast anatomy measured on the coarse image.

    Attributes:
        factor: integer reduction from the input image to the coarse image (>= 1).
        coarse: float32 [h, w] coarse image (box-reduced input, canonical orientation: chest wall left).
        mask: bool [h, w] breast mask (largest component, holes filled), canonical orientation.
        threshold: grey level separating breast from background.
        background_level: median grey level outside the dilated breast mask.
        chest_wall_side: side of the input image the chest wall touches.
        area_fraction: breast area / image area.
        n_components: tissue components of the thresholded image (see _count_extra_components).
        n_holes: enclosed background regions inside the breast of at least `min_hole_fraction` of it.
        hole_fraction: total area of those holes / breast area.
        skin_jaggedness: relative excess length of the skin line over a smoothed skin line (0 = smooth).
        skin_concavity: concave turning of the skin line in half turns (see compute_skin_concavity;
            about 0-3 for a clean breast, one per notch bitten into the skin line).
        skin_concavity_fine: the same measured on >= CONCAVITY_MIN_HEIGHT rows when the outline
            image is coarser (e.g. an input of 513-1023 or 1025-1535 rows), with
            MIN_NOTCH_TURN_FINE; 0 otherwise.
        pectoral_present, pectoral_area_fraction, pectoral_angle_deg, pectoral_mask: see
            `mammoeval.qa.pectoral.detect_pectoral`.
        background_offset: the uniform grey level of a non-black background (0 when black or not
            uniform, see `estimate_background_offset`); every other measure is taken on
            |image - background_offset|.
    """

    factor: int
    coarse: np.ndarray
    mask: np.ndarray
    threshold: float
    background_level: float
    chest_wall_side: ChestWallSide
    area_fraction: float
    n_components: int
    n_holes: int
    hole_fraction: float
    skin_jaggedness: float
    pectoral_present: bool
    pectoral_area_fraction: float
    pectoral_angle_deg: float
    pectoral_mask: np.ndarray
    skin_concavity: float = 0.0
    skin_concavity_fine: float = 0.0
    background_offset: float = 0.0

    @property
    def background_not_black(self) -> bool:
        """Whether the background is a uniform non-black grey (its level is `background_offset`)."""
        return self.background_offset > 0.0

    @property
    def skin_smoothness(self) -> float:
        """Return 1 / (1 + 10 * jaggedness): 1 for a smooth skin line, towards 0 for a ragged one."""
        return 1.0 / (1.0 + 10.0 * self.skin_jaggedness)


def compute_threshold(coarse: np.ndarray) -> float:
    """Return the breast/background grey-level threshold of a coarse image.

    The background is the histogram mode below Otsu's threshold (film backgrounds are grey, digital
    ones black); the threshold sits a few noise widths above it, and at least 15% of the way to
    Otsu's threshold, so that fatty tissue (much darker than dense tissue) stays inside the breast.
    """
    flat = coarse[np.isfinite(coarse)].ravel()
    if flat.size == 0 or float(flat.max() - flat.min()) < 1e-6:
        return float(flat.max()) + 1e-3 if flat.size else 0.5
    otsu = float(threshold_otsu(flat))
    low = flat[flat <= otsu]
    hist, edges = np.histogram(low, bins=64)
    k = int(np.argmax(hist))
    bg = float(0.5 * (edges[k] + edges[k + 1]))
    near = low[np.abs(low - bg) < max(0.05, 2 * (edges[1] - edges[0]))]
    sigma = float(1.4826 * np.median(np.abs(near - np.median(near)))) if near.size else 0.0
    return bg + max(0.02, 4.0 * sigma, 0.15 * (otsu - bg))


def _threshold_margin(coarse: np.ndarray) -> float:
    """Return threshold - background mode for a coarse image (see compute_threshold)."""
    return compute_threshold(coarse) - _background_mode(coarse)


def _background_mode(coarse: np.ndarray) -> float:
    """Return the histogram mode of the pixels below Otsu's threshold (the background grey level)."""
    flat = coarse[np.isfinite(coarse)].ravel()
    if flat.size == 0 or float(flat.max() - flat.min()) < 1e-6:
        return float(flat.max()) if flat.size else 0.0
    low = flat[flat <= float(threshold_otsu(flat))]
    hist, edges = np.histogram(low, bins=64)
    k = int(np.argmax(hist))
    return float(0.5 * (edges[k] + edges[k + 1]))


BLACK_LIMIT = 0.06
"""Background mode (grey level) from which a uniform background counts as not black (15 of 255)."""
UNIFORM_SHARE = 0.4
"""Share of the image frame within UNIFORM_WIDTH of its mode for the background to count as uniform
(digital backgrounds: 0.5-0.9 of the frame; a digitised film's grey, grainy background: under 0.2)."""
UNIFORM_WIDTH = 0.02
"""Grey-level half-width around the frame's mode counted as the uniform background."""
FRAME = 0.04
"""Width of the image frame (fraction of the shorter side) the background level is read from."""
BLACK_SHARE = 0.1
"""Share of black (< BLACK_LIMIT) frame pixels that makes the background black whatever the mode (a breast
filling most of the frame is itself a uniform grey mode there)."""


def estimate_background_offset(coarse: np.ndarray) -> float:
    """Return the grey level of a uniform non-black background, or 0 when it is black or not uniform.

    The background level is the mode of the image frame (outer FRAME of each side: three of the
    four sides are mostly background in a mammogram, whatever the chest-wall side); it counts when
    it is at least BLACK_LIMIT and at least UNIFORM_SHARE of the frame lies within UNIFORM_WIDTH of
    it (burned-in text and markers cover a minority of the frame), unless BLACK_SHARE of the
    frame is black.

    Args:
        coarse: float [h, w] image in [0, 1], finite.
    """
    h, w = coarse.shape
    e = max(1, int(FRAME * min(h, w)))
    if h <= 2 * e or w <= 2 * e:
        return 0.0
    frame = np.concatenate([coarse[:e].ravel(), coarse[-e:].ravel(), coarse[e:-e, :e].ravel(), coarse[e:-e, -e:].ravel()])
    hist, edges = np.histogram(frame, bins=128, range=(0.0, 1.0))
    k = int(np.argmax(hist))
    mode = 0.5 * float(edges[k] + edges[k + 1])
    near = frame[np.abs(frame - mode) < UNIFORM_WIDTH]
    if mode < BLACK_LIMIT or near.size < UNIFORM_SHARE * frame.size or np.mean(frame < BLACK_LIMIT) >= BLACK_SHARE:
        return 0.0
    return float(np.median(near))


FLAT_WINDOW = 5
"""Side (px) of the window in which the background's local grey-level spread is measured."""
FLAT_SPREAD = 3.0
"""A pixel is flat background when its local spread is under this many times the frame's median spread."""


def background_region(image: np.ndarray, offset: float) -> np.ndarray:
    """Return bool [H, W]: the uniform background of level `offset`, at the image's own resolution.

    Background pixels are near the level (local mean within UNIFORM_WIDTH of it), flat (local
    spread in a FLAT_WINDOW window under FLAT_SPREAD x the frame's median spread, at least 2/255)
    and connected to the image border. Tissue whose grey level crosses the background's is still
    textured, and burned-in text is neither near the level nor flat, so neither is taken for
    background, whatever its brightness.

    Args:
        image: float [H, W] in [0, 1], finite.
        offset: the background level (`estimate_background_offset`).
    """
    img = np.asarray(image, np.float32)
    mean = ndi.uniform_filter(img, FLAT_WINDOW)
    spread = np.sqrt(np.maximum(ndi.uniform_filter(img * img, FLAT_WINDOW) - mean * mean, 0.0))
    h, w = img.shape
    e = max(1, int(FRAME * min(h, w)))
    frame = np.ones((h, w), bool)
    frame[e:-e, e:-e] = False
    ref = frame & (np.abs(mean - offset) < UNIFORM_WIDTH)
    limit = max(FLAT_SPREAD * float(np.median(spread[ref])) if ref.any() else 0.0, 2.0 / 255.0)
    cand = (np.abs(mean - offset) < UNIFORM_WIDTH) & (spread < limit)
    labels, n = ndi.label(cand)
    if n == 0:
        return cand
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def flatten_background(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Return (image with a uniform grey background made black, its level; 0 and the image when black).

    Background pixels (`background_region`) become |image - level| (their texture, if any, is kept
    for the background detector); every other pixel keeps its grey level, so tissue darker than the
    background stays inside the breast and mask, chest-wall side, pectoral muscle and view see a
    black background.

    Args:
        image: float [H, W] in [0, 1], finite.
    """
    img = np.asarray(image, np.float32)
    offset = estimate_background_offset(reduce_to_height(img, COARSE_HEIGHT)[0])
    if offset <= 0.0:
        return img, 0.0
    bg = background_region(img, offset)
    return np.where(bg, np.abs(img - np.float32(offset)), img).astype(np.float32), offset


HOLE_LEVEL = 0.5
"""A hole's pixels are darker than this fraction of the way from the background level to the breast
threshold (enclosed regions between it and the threshold are dark tissue, not holes)."""
HOLE_FLAT_LIMIT = 0.0025
"""A hole shows background, so it is as flat as background: an enclosed dark region whose median
|fine texture| (coarse image minus its 1-px Gaussian blur) exceeds this and twice the background's
own is textured, i.e. dark fat (under a darkening display curve it falls to the hole level), not a hole.

Rule: about 2/3 of an 8-bit grey level, the level of quantisation and compression noise (as
`background.BACKGROUND_TEXTURE_LIMIT`); clean dark fat that reads as a hole under gamma 1.25 on
real-dev has 0.003-0.012, a pasted background-level hole 0-0.0002."""


def compute_anatomy(image: np.ndarray, *, min_hole_fraction: float = 0.002,
                    background_offset: float | None = None) -> Anatomy:
    """Return the breast anatomy of one mammogram.

    The mask, holes and pectoral muscle are measured on the coarse image (about 256 rows); the
    outline measures that need finer detail (separate components, skin-line jaggedness) on the
    outline image (about 512 rows), where a gap of a few pixels between the breast and a floating
    island of tissue survives the reduction; an input whose outline image falls well below 512
    rows (513-1023 rows are halved, 1025-1535 divided by 3) also gets its skin-line concavity
    measured on >= 512 rows (`skin_concavity_fine`).

    Args:
        image: float [H, W] in [0, 1], finite; background black or a uniform grey (see
            `estimate_background_offset`), tissue brighter than black; either chest-wall side.
        min_hole_fraction: smallest enclosed hole counted, as a fraction of the breast area.
        background_offset: None = the image as given (a uniform grey background is made black here,
            `flatten_background`); otherwise the image was already flattened and this is the level.
    """
    if background_offset is None:
        image, offset = flatten_background(image)
    else:
        offset = background_offset
    coarse, factor = reduce_to_height(image, COARSE_HEIGHT)
    smooth = ndi.uniform_filter(coarse, 3)
    threshold = compute_threshold(smooth)
    raw = ndi.binary_opening(smooth > threshold, iterations=1)
    comps = _components(raw)
    if comps is None:
        empty = np.zeros_like(raw)
        return Anatomy(factor, coarse, empty, threshold, float(np.median(coarse)), "left", 0.0, 0, 0, 0.0, 0.0,
                       False, 0.0, 0.0, empty, background_offset=offset)
    labels, _, main = comps
    body = labels == main
    filled = _fill_holes_with_edges(body)
    bg_mode = threshold - _threshold_margin(smooth)
    dark_holes = filled & ~body & (smooth < bg_mode + HOLE_LEVEL * (threshold - bg_mode))
    outside = ~ndi.binary_dilation(filled, iterations=3)
    n_holes, hole_fraction = _holes(dark_holes, filled.sum(), min_hole_fraction,
                                    image=coarse, background=outside)
    side = chest_wall_side(filled)[0]
    canon = filled if side == "left" else filled[:, ::-1]
    canon_img = coarse if side == "left" else coarse[:, ::-1]
    bg_level = float(np.median(coarse[outside])) if outside.any() else 0.0
    n_components, jaggedness, concavity, fine_concavity = _outline_measures(image, threshold)
    pect = detect_pectoral(canon_img, canon)
    return Anatomy(
        factor=factor, coarse=np.ascontiguousarray(canon_img), mask=np.ascontiguousarray(canon),
        threshold=threshold, background_level=bg_level, chest_wall_side=side,
        area_fraction=float(filled.mean()), n_components=n_components, n_holes=n_holes,
        hole_fraction=hole_fraction, skin_jaggedness=jaggedness,
        pectoral_present=pect.present, pectoral_area_fraction=pect.area_fraction,
        pectoral_angle_deg=pect.angle_deg, pectoral_mask=pect.mask, skin_concavity=concavity,
        skin_concavity_fine=fine_concavity, background_offset=offset,
    )


OUTLINE_HEIGHT = 512
"""Height in pixels of the image on which components and skin-line jaggedness are measured."""
CONCAVITY_MIN_HEIGHT = 512
"""Fewest rows of the image on which the skin-line concavity is measured (an image of 513-1023 rows
is not halved: notches 2-4 px deep would shrink to 1-2 px at OUTLINE_HEIGHT)."""


def _outline_measures(image: np.ndarray, threshold: float) -> tuple[int, float, float, float]:
    """Return (tissue components counted as breast parts, skin-line jaggedness, skin-line concavity)
    at OUTLINE_HEIGHT rows, and the fine skin-line concavity (0 when the image is no taller).

    Components: the 3x3-median-filtered image above the breast threshold, opened once (drops
    isolated noise pixels; a median keeps narrow gaps open), counted by `_count_extra_components`.
    Jaggedness: `compute_skin_jaggedness` of the main component (holes filled) of the image
    blurred by a 1-px Gaussian above the threshold (film and quantum noise would roughen the line).
    Concavity: `compute_skin_concavity` of that blurred image. Fine concavity: the same at
    CONCAVITY_MIN_HEIGHT rows or more (MIN_NOTCH_TURN_FINE) when the outline image is coarser; the
    components are then also counted there and the larger count is kept (a gap of a few pixels
    between an island and faint skin closes when the image is halved).
    """
    mid, _ = reduce_to_height(image, OUTLINE_HEIGHT)
    blurred = ndi.gaussian_filter(mid, 1.0)
    n_components = 0
    for k, tissue in enumerate((ndi.median_filter(mid, 3) > threshold, blurred > threshold)):
        comps = _components(ndi.binary_opening(tissue))
        if comps is None:
            return 0, 0.0, 0.0, 0.0
        labels, sizes, main = comps
        if k == 0:
            n_components = 1 + _count_extra_components(labels, sizes, main)
    body = ndi.binary_fill_holes(labels == main)
    concavity = compute_skin_concavity(blurred, body, threshold)
    fine = _concavity_image(image, mid, body)
    fine_concavity = 0.0
    if fine is not None:
        fine_concavity = compute_skin_concavity(fine[1], fine[2], threshold, min_turn=MIN_NOTCH_TURN_FINE)
        n_components = max(n_components, _component_count(fine[0], threshold))
    return n_components, _jaggedness(mid, threshold, body), concavity, fine_concavity


JAGGEDNESS_ROWS = 320
"""Rows per pixel of noise blur for the jaggedness outline: the image is blurred by a Gaussian of
max(1, rows / JAGGEDNESS_ROWS) px before thresholding, so the skin line is judged at one scale
whatever the outline image's size (with a fixed 1-px blur, clean NYU MLOs read 0.02 at 303 rows but
0.21 at 455 rows, above the limit)."""


def _jaggedness(mid: np.ndarray, threshold: float, body: np.ndarray) -> float:
    """Return `compute_skin_jaggedness` of the main breast component of `mid` blurred at the
    JAGGEDNESS_ROWS scale (`body`, the main component after a 1-px blur, when that is the same scale)."""
    sigma = mid.shape[0] / JAGGEDNESS_ROWS
    if sigma <= 1.0:
        return compute_skin_jaggedness(body)
    comps = _components(ndi.binary_opening(ndi.gaussian_filter(mid, sigma) > threshold))
    if comps is None:
        return 0.0
    labels, _, main = comps
    return compute_skin_jaggedness(ndi.binary_fill_holes(labels == main))


def _component_count(image: np.ndarray, threshold: float) -> int:
    """Return 1 + the extra breast-sized components (`_count_extra_components`) of the 3x3-median-filtered
    image above the threshold, opened once (0 when nothing is above it)."""
    above = ndi.uniform_filter((image > threshold).astype(np.float32), 3) > 0.5  # 3x3 median > threshold
    comps = _components(ndi.binary_opening(above))
    return 0 if comps is None else 1 + _count_extra_components(*comps)


def _components(tissue: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Return (labels, sizes [n] in px, label of the largest) of a bool map's connected components,
    or None when it has none."""
    labels, n = ndi.label(tissue)
    if n == 0:
        return None
    sizes = ndi.sum_labels(tissue, labels, index=np.arange(1, n + 1))
    return labels, sizes, int(np.argmax(sizes)) + 1


def _concavity_image(image: np.ndarray, mid: np.ndarray,
                     body: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return (image, its 1-px blur, main-component mask) at the smallest integer reduction of `image`
    keeping at least CONCAVITY_MIN_HEIGHT rows, or None when that is no finer than the outline image `mid`.

    Args:
        image: float [H, W] input image.
        mid: float32 [h, w] the outline image (OUTLINE_HEIGHT rows at most).
        body: bool [h, w] main breast component on `mid`.
    """
    factor = max(1, image.shape[0] // CONCAVITY_MIN_HEIGHT)
    if image.shape[0] // factor <= mid.shape[0]:
        return None
    fine = box_reduce(image, factor)
    pixel = mid.shape[0] / fine.shape[0]
    rows = np.minimum(((np.arange(fine.shape[0]) + 0.5) * pixel).astype(int), body.shape[0] - 1)
    cols = np.minimum(((np.arange(fine.shape[1]) + 0.5) * pixel).astype(int), body.shape[1] - 1)
    return fine, ndi.gaussian_filter(fine, 1.0), body[np.ix_(rows, cols)]


def _fill_holes_with_edges(mask: np.ndarray) -> np.ndarray:
    """Return the mask with holes filled, counting dark notches cut into it at the image edges as holes.

    A background region touching the image edge only between two stretches of breast along that
    edge (shorter than a third of the edge) is enclosed by the breast and the edge: it is filled
    like a hole. Background reaching the edge elsewhere stays background.
    """
    padded = np.pad(mask, 1)
    for edge, sl in ((mask[0], (0, slice(1, -1))), (mask[-1], (-1, slice(1, -1))),
                     (mask[:, 0], (slice(1, -1), 0)), (mask[:, -1], (slice(1, -1), -1))):
        gap = max(3, edge.size // 3)
        padded[sl] = ndi.binary_closing(np.pad(edge, gap, mode="edge"), np.ones(gap, bool))[gap:-gap] & \
            ~_outer_runs(edge)
    return ndi.binary_fill_holes(padded)[1:-1, 1:-1]


def _outer_runs(edge: np.ndarray) -> np.ndarray:
    """Return bool, True on the background pixels of a 1-D edge before its first and after its last True."""
    out = np.zeros_like(edge)
    idx = np.nonzero(edge)[0]
    if idx.size == 0:
        return ~out
    out[: idx[0]] = True
    out[idx[-1] + 1:] = True
    return out


def _count_extra_components(labels: np.ndarray, sizes: np.ndarray, main: int) -> int:
    """Return the number of breast-sized components besides the main one.

    Counted: components of at least 0.6% of the main one that do not touch the image border and
    either lie within 10% of the width of it, or lie within 30% of it and are solid (the largest
    inscribed disc has a radius of at least 2.5% of the width: a lump of tissue, not the thin
    strokes of a burned-in label, which also tends to sit far from the breast); and components
    touching the border of at least 25% (film edges and label areas of scanned films are smaller).
    """
    w = labels.shape[1]
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    index = np.arange(1, len(sizes) + 1)
    extra = int(sum(1 for i in border if i not in (0, main) and sizes[i - 1] >= 0.25 * sizes[main - 1]))
    cand = [int(i) for i in index[sizes >= 0.006 * sizes[main - 1]] if i != main and i not in border]
    if not cand:  # the usual case: skip the distance transforms
        return extra
    gap = ndi.minimum(ndi.distance_transform_edt(labels != main), labels, index=cand)
    thick = ndi.maximum(ndi.distance_transform_edt(np.isin(labels, cand)), labels, index=cand)
    return extra + sum(int(g <= 0.1 * w or (g <= 0.3 * w and t >= 0.025 * w)) for g, t in zip(gap, thick, strict=True))


def _fine_texture(image: np.ndarray) -> np.ndarray:
    """Return float32 |image - its 1-px Gaussian blur|: texture at the pixel scale."""
    img = np.asarray(image, np.float32)
    return np.abs(img - ndi.gaussian_filter(img, 1.0))


def _holes(holes: np.ndarray, breast_area: int, min_fraction: float, *, image: np.ndarray | None = None,
           background: np.ndarray | None = None) -> tuple[int, float]:
    """Return (count, total area / breast area) of enclosed holes of at least min_fraction of the breast.

    With `image` a hole counts only when the median texture of its
    interior (`_fine_texture` of `image`, computed only when a hole is big enough) is at most max(HOLE_FLAT_LIMIT,
    twice the median texture of `background`): a hole shows background and is as flat as it is (the
    factor 2 leaves room for the sampling spread of a noisy background's median); textured
    dark tissue is not a hole. The interior is the hole eroded twice (the 1-px blur of the bright
    rim reaches ~2 px into it), or once, or not at all, whichever first leaves more than 3 px.
    """
    if breast_area == 0 or not holes.any():
        return 0, 0.0
    hl, hn = ndi.label(holes)
    hs = ndi.sum_labels(np.ones_like(holes, dtype=np.float32), hl, index=np.arange(1, hn + 1))
    big = hs >= max(4.0, min_fraction * breast_area)
    if image is not None and big.any():
        texture = _fine_texture(image)
        flat = HOLE_FLAT_LIMIT
        if background is not None and background.any():
            flat = max(flat, 2.0 * float(np.median(texture[background])))
        eroded = [ndi.binary_erosion(holes, iterations=k) for k in (2, 1)]
        for i in np.flatnonzero(big):
            region = hl == i + 1
            core = next((c for c in (region & e for e in eroded) if c.sum() > 3), region)
            big[i] = float(np.median(texture[core])) <= flat
    return int(big.sum()), float(hs[big].sum() / breast_area)


def compute_skin_jaggedness(mask: np.ndarray) -> float:
    """Return how much longer the skin line is than its smoothed version, relative (0 = smooth).

    The skin line is the mask boundary away from the image edges; the smoothed version is the
    boundary of the mask after a Gaussian blur (sigma 1% of the height) and re-threshold.

    Args:
        mask: bool [h, w] breast mask (chest wall left).
    """
    if mask.sum() < 50:
        return 0.0
    smooth = ndi.gaussian_filter(mask.astype(np.float32), max(1.0, 0.01 * mask.shape[0])) > 0.5
    length = _interior_boundary_length(mask)
    ref = _interior_boundary_length(smooth)
    if ref < 10:
        return 0.0
    return float(max(0.0, length / ref - 1.0))


def _interior_boundary_length(mask: np.ndarray) -> float:
    """Return the number of 4-connected mask/background transitions not on the image edge."""
    inner = mask[1:-1, 1:-1]
    horiz = np.count_nonzero(mask[1:-1, 1:] != mask[1:-1, :-1])
    vert = np.count_nonzero(mask[1:, 1:-1] != mask[:-1, 1:-1])
    del inner
    return float(horiz + vert)


CONCAVITY_SIGMA = 0.006
"""Gaussian smoothing of the skin-line contour before its turning is measured (fraction of the width)."""
MIN_NOTCH_TURN = 0.05
"""Smallest concave run counted (half turns, i.e. 9 degrees): drops the pixel staircase of the contour."""
MIN_NOTCH_TURN_FINE = 0.1
"""MIN_NOTCH_TURN of the fine concavity (18 degrees): at more rows the small wiggles of a noisy film
skin line turn more (with 0.05 the NEMA film reached 4.1 at 583 rows), while a notch still turns by
about half a turn."""
CONCAVITY_LEVELS = (0.0, 0.2)
"""Iso-levels of the skin-line contours, as fractions of the way from the breast threshold to the
median breast grey level; the concavity is the smaller of theirs."""


def compute_skin_concavity(blurred: np.ndarray, body: np.ndarray, threshold: float, *,
                           min_turn: float = MIN_NOTCH_TURN) -> float:
    """Return the concave turning of the skin line in half turns (0 for a convex outline).

    A healthy skin line is nearly convex: walking along it the direction turns one way, except
    around the nipple and, in MLO views, the axilla and the inframammary fold (about 0-3 half turns
    in all). Every notch bitten into it turns the other way by about half a turn, whatever its
    size. The contour of the blurred image at an iso-level (sub-pixel, `skimage.measure.find_contours`)
    is resampled at 1-px steps, smoothed by CONCAVITY_SIGMA x width, and the turning against the
    main sense is summed over runs of at least MIN_NOTCH_TURN, away from the image edges. Noise in
    the soft fall-off of film skin lines makes the lowest iso-contour wander, while a notch cuts
    every level: the result is the smaller value over CONCAVITY_LEVELS.

    Args:
        blurred: float32 [h, w] outline image (chest wall on either side), Gaussian-blurred.
        body: bool [h, w] main breast component, holes filled.
        threshold: breast/background grey level.
        min_turn: smallest concave run counted (half turns).
    """
    if body.sum() < 50:
        return 0.0
    median = float(np.median(blurred[body]))
    best = np.inf
    for f in CONCAVITY_LEVELS:  # lazily: a smooth first contour settles it
        best = min(best, _concave_turning(blurred, threshold + f * (median - threshold), min_turn))
        if best < 1.0:
            break
    return float(best)


def _concave_turning(blurred: np.ndarray, level: float, min_turn: float = MIN_NOTCH_TURN) -> float:
    """Return the turning (half turns) against the main sense of the longest iso-contour at `level`."""
    contours = find_contours(blurred, level)
    if not contours:
        return 0.0
    c = max(contours, key=len)
    arc = np.r_[0.0, np.cumsum(np.hypot(*np.diff(c, axis=0).T))]
    if arc[-1] < 20:
        return 0.0
    s = np.arange(0.0, arc[-1], 1.0)
    c = np.stack([np.interp(s, arc, c[:, 0]), np.interp(s, arc, c[:, 1])], axis=1)
    h, w = blurred.shape
    on_edge = (c[:, 0] < 2) | (c[:, 0] > h - 3) | (c[:, 1] < 2) | (c[:, 1] > w - 3)
    sigma = max(1.0, CONCAVITY_SIGMA * w)
    smooth = ndi.gaussian_filter1d(c, sigma, axis=0, mode="nearest")
    turn = np.diff(np.unwrap(np.arctan2(np.diff(smooth[:, 0]), np.diff(smooth[:, 1]))))
    keep = ~ndi.binary_dilation(on_edge, iterations=int(3 * sigma) + 2)[1:-1]
    turn = turn[keep]
    if turn.sum() < 0:
        turn = -turn
    labels, n = ndi.label(turn < 0)
    if n == 0:
        return 0.0
    runs = -ndi.sum_labels(turn, labels, index=np.arange(1, n + 1)) / np.pi
    return float(runs[runs >= min_turn].sum())
