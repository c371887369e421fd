"""Pure array functions of ingest: intensity windowing, inversion, grey conversion, canonical flip,
fit-downsample with anti-aliasing and zero padding.

Every function takes and returns NumPy arrays and knows nothing about files, so it can be tested on
hand-made arrays. Geometry contract (the paper's): the image is scaled by the largest factor that
fits one target dimension, placed against the chest-wall (LEFT) edge, padded on the right when the
width is short, and padded equally top and bottom (the odd pixel at the bottom) when the height is
short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image
from skimage.filters import threshold_li

VoiFunction = Literal["LINEAR", "LINEAR_EXACT", "SIGMOID"]
Side = Literal["left", "right"]

CONTAINER_DEPTHS: tuple[int, ...] = (10, 12, 14, 16)
"""Candidate bit depths for values stored in a 16-bit container (a 16-bit PNG holding 12-bit data)."""

ROBUST_PERCENTILES: tuple[float, float] = (0.5, 99.5)
"""Percentiles of the non-background pixels used when a DICOM has neither VOI LUT nor window."""


def apply_window(x: np.ndarray, center: float, width: float, *, function: VoiFunction = "LINEAR") -> np.ndarray:
    """Return `x` mapped through a DICOM window to float32 in [0, 1] (PS3.3 C.11.2.1.2).

    Args:
        x: modality-LUT output values, any shape, any numeric dtype.
        center: WindowCenter (first value when the tag is multi-valued).
        width: WindowWidth (> 0; >= 1 for LINEAR).
        function: VOILUTFunction; LINEAR (the default of the standard), LINEAR_EXACT or SIGMOID.

    Raises:
        ValueError: the width is not positive.
    """
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise ValueError(f"window width must be positive (>= 1 for LINEAR), got {width}")
    # float32 holds every 16-bit (and modality-rescaled) value exactly enough; float64 doubles the cost.
    xf = x.astype(np.float32)
    if function == "SIGMOID":
        y = 1.0 / (1.0 + np.exp(np.float32(-4.0 / width) * (xf - np.float32(center))))
    elif function == "LINEAR_EXACT":
        y = (xf - np.float32(center - width / 2.0)) * np.float32(1.0 / width)
    elif width > 1:
        # The standard's LINEAR form: ((x - (c - 0.5)) / (w - 1) + 0.5), clipped.
        y = (xf - np.float32(center - 0.5)) * np.float32(1.0 / (width - 1.0)) + np.float32(0.5)
    else:
        y = (xf > center - 0.5).astype(np.float32)
    return np.clip(y, 0.0, 1.0, out=y).astype(np.float32, copy=False)


def apply_lut(x: np.ndarray, lut: np.ndarray, *, first_mapped: int, bits: int) -> np.ndarray:
    """Return `x` mapped through a DICOM VOI LUT to float32 in [0, 1] (PS3.3 C.11.2.1.1).

    Inputs below `first_mapped` take the first entry, inputs past the table the last entry.

    Args:
        x: modality-LUT output values (rounded to integers here), any shape.
        lut: the LUT Data entries, 1-D.
        first_mapped: LUT Descriptor value 2, the input value mapped to entry 0.
        bits: LUT Descriptor value 3; entries are divided by 2**bits - 1.
    """
    lut = np.asarray(lut, dtype=np.float64).ravel()
    if lut.size == 0 or not 1 <= bits <= 16:
        raise ValueError(f"LUT needs entries and 1-16 bits per entry, got {lut.size} entries of {bits} bits")
    index = np.clip(np.rint(x.astype(np.float64)) - first_mapped, 0, lut.size - 1).astype(np.int64)
    return np.clip(lut[index] / ((1 << bits) - 1), 0.0, 1.0).astype(np.float32)


def tissue_mask(x: np.ndarray, *, tissue_is_bright: bool = True) -> np.ndarray:
    """Return a bool mask of the non-background pixels, split by Li's minimum cross-entropy threshold.

    Li's threshold sits low enough that fatty tissue counts as breast (Otsu's tends to split dense
    from fatty tissue when an image is cropped to the breast).

    Args:
        x: grey image, any numeric dtype, shape (H, W).
        tissue_is_bright: True for MONOCHROME2 polarity (tissue above the threshold).
    """
    xf = x.astype(np.float32)
    if float(xf.max()) == float(xf.min()):
        return np.ones(x.shape, dtype=bool)
    t = threshold_li(xf[:: max(1, x.shape[0] // 512), :: max(1, x.shape[1] // 512)])
    return xf > t if tissue_is_bright else xf < t


def robust_range(x: np.ndarray, *, tissue_is_bright: bool = True,
                 percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> tuple[float, float]:
    """Return (low, high) percentiles of the non-background pixels: the windowing fallback.

    Args:
        x: grey image (modality-LUT output), shape (H, W).
        tissue_is_bright: False for MONOCHROME1 data (tissue has the low raw values).
        percentiles: lower and upper percentile in [0, 100].
    """
    mask = tissue_mask(x, tissue_is_bright=tissue_is_bright)
    vals = x[mask] if mask.any() else x.ravel()
    lo, hi = np.percentile(vals.astype(np.float64), percentiles)
    if hi <= lo:
        lo, hi = float(x.min()), float(x.max())
    return float(lo), float(hi)


def robust_window(x: np.ndarray, *, tissue_is_bright: bool = True,
                  percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> tuple[np.ndarray, tuple[float, float]]:
    """Return (float32 [0, 1] tissue-bright image, (low, high) used): the windowing fallback.

    The values are first turned tissue-bright and measured from their minimum: ``x - min(x)`` for
    MONOCHROME2, ``max(x) - x`` for MONOCHROME1. Both are exact for integer data, so MONOCHROME1
    pixels give bit for bit the image that their inversion stored as MONOCHROME2 gives (the
    inversion ``K - x`` only changes the constant that is subtracted). Then the
    `ROBUST_PERCENTILES` of the non-background pixels (`tissue_mask`) map linearly to [0, 1].
    No inversion is left to do afterwards.

    Args:
        x: modality-LUT output values, shape (H, W), finite.
        tissue_is_bright: False for MONOCHROME1 data.
        percentiles: lower and upper percentile in [0, 100].

    Returns:
        The image and (low, high) in the units of ``x - min(x)`` (MONOCHROME2) or ``max(x) - x``.
    """
    xf = np.asarray(x, dtype=np.float64)
    z = xf - xf.min() if tissue_is_bright else xf.max() - xf
    lo, hi = robust_range(z, tissue_is_bright=True, percentiles=percentiles)
    return rescale(z, lo, hi), (lo, hi)


def rescale(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Return float32 `(x - low) / (high - low)` clipped to [0, 1] (all zeros when high <= low)."""
    if high <= low:
        return np.zeros(x.shape, dtype=np.float32)
    return np.clip((x.astype(np.float64) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def invert(x: np.ndarray) -> np.ndarray:
    """Return 1 - x: MONOCHROME1 (minimum value shown white) to MONOCHROME2 polarity."""
    return (1.0 - x).astype(np.float32)


def detect_bit_depth(max_value: int, *, container_bits: int = 16) -> int:
    """Return the bit depth that the values in an unsigned container actually use.

    The smallest of 10/12/14/16 bits (up to `container_bits`) whose maximum holds `max_value`, so a
    16-bit PNG holding 12-bit data (max 4095) is divided by 4095, not 65535. Containers of 8 bits or
    fewer return `container_bits`.
    """
    if container_bits <= 8:
        return container_bits
    for bits in CONTAINER_DEPTHS:
        if bits <= container_bits and max_value <= (1 << bits) - 1:
            return bits
    return container_bits


def to_grey(rgb: np.ndarray, *, tolerance: int = 2) -> tuple[np.ndarray, bool]:
    """Return (grey image, channels_were_equal) from an [H, W, C] colour array (C >= 3).

    Grey stored as RGB (every channel within `tolerance` of the others, JPEG noise allowed) becomes the
    mean of the channels; true colour becomes ITU-R BT.601 luma. The dtype is float32 in the input's
    units (not rescaled).
    """
    c = rgb[..., :3]
    # Decide on a strided sample: a full float copy of a 20-megapixel RGB image costs more than the rest.
    sample = c[::4, ::4].astype(np.float32)
    spread = float(np.max(np.abs(sample - sample[..., :1]))) if sample.size else 0.0
    if spread <= tolerance:
        return c.mean(axis=-1, dtype=np.float32), True
    return (c.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)), False


def flip_to_left(image: np.ndarray, chest_wall: Side) -> tuple[np.ndarray, bool]:
    """Return (image with the chest wall on the LEFT edge, whether it was mirrored left-right)."""
    if chest_wall == "right":
        return np.ascontiguousarray(image[:, ::-1]), True
    return image, False


@dataclass(frozen=True)
class FitPlan:
    """How a source image of (src_height, src_width) becomes a (height, width) target.

    Attributes:
        scale: output pixels per source pixel (< 1 downsample, > 1 upsample).
        fitted_height, fitted_width: size of the resampled image before padding.
        pad_top, pad_bottom, pad_left, pad_right: zero padding in output pixels (pad_left is always 0:
            the image sits against the chest-wall edge).
    """

    scale: float
    fitted_height: int
    fitted_width: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int

    @property
    def upsamples(self) -> bool:
        """True when the plan enlarges the source."""
        return self.scale > 1.0


def plan_fit(src_size: tuple[int, int], target: tuple[int, int]) -> FitPlan:
    """Return the fit of `src_size` into `target` (both (height, width)): scale = min(H/h, W/w).

    The dimension that sets the scale matches the target exactly; the other is rounded, capped at
    the target, and padded (right for width; top/bottom, odd pixel at the bottom, for height).

    Raises:
        ValueError: a size is not positive.
    """
    (h, w), (th, tw) = src_size, target
    if min(h, w, th, tw) <= 0:
        raise ValueError(f"sizes must be positive, got source {src_size} and target {target}")
    if th / h <= tw / w:
        scale, fh, fw = th / h, th, min(tw, max(1, round(w * th / h)))
    else:
        scale, fh, fw = tw / w, min(th, max(1, round(h * tw / w))), tw
    top = (th - fh) // 2
    return FitPlan(scale=scale, fitted_height=fh, fitted_width=fw, pad_top=top, pad_bottom=th - fh - top,
                   pad_left=0, pad_right=tw - fw)


def resample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return `image` resampled to `size` (height, width) as float32 in [0, 1], anti-aliased.

    Pillow's LANCZOS filter on float32 data widens its support by the reduction factor, so a
    downsample low-pass filters before sampling (no aliasing); Lanczos overshoot is clipped.

    Args:
        image: float32 (H, W) in [0, 1].
        size: (height, width) of the result.
    """
    if image.shape == tuple(size):
        return image.astype(np.float32, copy=False)
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F")
    out = np.asarray(im.resize((size[1], size[0]), resample=Image.Resampling.LANCZOS), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def pad(image: np.ndarray, plan: FitPlan) -> np.ndarray:
    """Return `image` (fitted_height, fitted_width) zero-padded as `plan` says, float32."""
    return np.pad(image.astype(np.float32, copy=False),
                  ((plan.pad_top, plan.pad_bottom), (plan.pad_left, plan.pad_right)))


def fit_to(image: np.ndarray, target: tuple[int, int]) -> tuple[np.ndarray, FitPlan]:
    """Return (image fitted and padded to `target` (height, width), the plan used).

    Args:
        image: float32 (h, w) in [0, 1], canonical orientation (chest wall left).
        target: (height, width) in pixels.
    """
    plan = plan_fit(image.shape, target)
    fitted = resample(image, (plan.fitted_height, plan.fitted_width))
    return pad(fitted, plan), plan
