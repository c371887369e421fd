"""Background detector: texture, noise or tissue outside the breast."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import MID_HEIGHT, Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import fit_to as _fit
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.base import mask_at as _mask_at

BACKGROUND_TEXTURE_LIMIT = 0.0025
"""Median |band-pass| grey level of the background that reaches the background threshold.

Rule: the largest clean value on real-dev (0.0007, the NEMA digitised film; 0 on mini-MIAS film,
CDD-CESM, NYU and the phantoms) x 1.3 is 0.0009; the limit is raised to 0.0025 (about 2/3 of one
8-bit grey level) so that quantisation and compression noise of any clean source stays below it."""
BACKGROUND_RATIO_LIMIT = 2.0
"""90th-percentile background / breast band-pass ratio that reaches the threshold (a second,
coarse test for texture covering only part of the background; clean real-dev max 0.3, x1.3 and
rounded up well above it because the p90 also sees film labels' halos)."""


BAND_REACH_PX = 10
"""Pixels (at the mid resolution) over which the sigma-4 band of a bright edge still reads as texture."""
SMALL_IMAGE_ROWS = 256
"""Images under this many rows exclude the full BAND_REACH_PX halo around the breast and labels."""


def detect_background(work: np.ndarray, anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the background finding: texture, noise or tissue leaking outside the breast.

    Texture is the absolute band-pass image (Gaussian sigma 1 minus sigma 4 at ~512 px height). It
    is measured in the background: outside the breast dilated by 3% of the width (the skin line's
    own fall-off is excluded), away from the image edges (3%) and from any other object brighter
    than the breast threshold (labels, markers). A clean background, digital or film, is flat at
    this scale: the median texture of a 16x16 block there is about 0 (film grain, JPEG ringing and
    text halos touch a minority of pixels), whereas noise, fog texture or tissue leaking across the
    skin line raises it in every block it covers. Score: max(median over blocks of the
    block median, for this band and for the finest band (image minus its sigma-1 blur), /
    BACKGROUND_TEXTURE_LIMIT, p90 ratio to the breast's texture / BACKGROUND_RATIO_LIMIT).

    Args:
        work: float32 [H, W] working image, chest wall left.
        anatomy: its anatomy.
        threshold: flag threshold on the score.
    """
    mid, f = reduce_to_height(work, MID_HEIGHT)
    mask = _mask_at(anatomy.mask, mid.shape, f / anatomy.factor)
    if not mask.any() or mask.all():
        return _finding("background", 0.0, threshold, "")
    band = ndi.gaussian_filter(mid, 1.0) - ndi.gaussian_filter(mid, 4.0)
    finest = mid - ndi.gaussian_filter(mid, 1.0)
    w = mid.shape[1]
    near = max(2, int(0.01 * w))
    # The sigma-4 band of the skin line and of labels spreads ~2.5 sigma px whatever the image size. On
    # small images (e.g. a 80x64 training resolution) that halo fills many of the few 16-px background
    # blocks, so it is excluded in full there; on larger images 3% of the width is kept (the halo is a
    # minority of the blocks, and narrow crops keep enough background).
    small = mid.shape[0] < SMALL_IMAGE_ROWS
    reach = max(BAND_REACH_PX if small else 3, int(0.03 * w))
    label_reach = max(near, BAND_REACH_PX // 2) if small else near
    grown = ndi.binary_dilation(mask, iterations=reach)
    objects = ndi.binary_dilation(mid > anatomy.threshold, iterations=label_reach) & ~mask
    e = max(2, int(0.03 * w))
    far = ~grown & ~objects
    far[:e], far[-e:], far[:, :e], far[:, -e:] = False, False, False, False
    if far.sum() <= 200:
        return _finding("background", 0.0, threshold, "")
    inner = ndi.binary_erosion(mask, iterations=near, border_value=0)
    ref = max(_p90(band[inner]) if inner.sum() > 50 else _p90(band[mask]), 1e-3)
    level = max(_median_of_block_medians(np.abs(band), far), _median_of_block_medians(np.abs(finest), far)) / BACKGROUND_TEXTURE_LIMIT
    ratio = _p90(band[far]) / ref / BACKGROUND_RATIO_LIMIT
    heat = reduce_to_height(np.abs(band) * far / BACKGROUND_TEXTURE_LIMIT, anatomy.mask.shape[0])[0]
    return _finding("background", max(level, ratio), threshold, "textured background",
                    _fit(heat, anatomy.mask.shape))


def _median_of_block_medians(values: np.ndarray, region: np.ndarray, block: int = 16) -> float:
    """Return the median over blocks (block x block px, at least half in `region`) of the median of
    `values` inside the region (0 when no block qualifies): robust to specks, text halos and film
    grain in a minority of blocks.

    (A 75th percentile, to catch texture over a quarter of the background, flagged 2 of 29 clean
    real-dev images: tight NYU crops whose few background blocks sit near the skin line.)"""
    h, w = values.shape
    hb, wb = h // block, w // block
    if hb == 0 or wb == 0:
        return 0.0
    v = np.where(region, values, np.nan)[: hb * block, : wb * block]
    tiles = v.reshape(hb, block, wb, block).transpose(0, 2, 1, 3).reshape(hb * wb, block * block)
    keep = np.isfinite(tiles).mean(axis=1) >= 0.5
    if not keep.any():
        return 0.0
    return float(np.percentile(np.nanmedian(tiles[keep], axis=1), 50))


def _p90(values: np.ndarray) -> float:
    """Return the 90th percentile of |values| (0 for none): robust, yet sees texture covering 10% of them."""
    return float(np.percentile(np.abs(values), 90)) if values.size else 0.0


def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_background(work, required(anatomy))


DETECTOR = FunctionDetector("background", _score)
