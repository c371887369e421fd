"""Radiomics features of grey images, as the Fréchet Radiomics Distance (FRD v1) defines them.

Per image, PyRadiomics (van Griethuysen et al. 2017; installed as ``pyradiomics-bhklab``, which
provides the ``radiomics`` module) is run with the settings of FRD v1 (Konz, Osuala et al. 2026;
``frd-score`` 1.0.1's default configuration for 2-D images):

- image types: Original, Laplacian of Gaussian (sigma 2, 3, 4, 5 px) and Wavelet;
- feature classes: all first-order, 22 GLCM features, all GLRLM, GLSZM and NGTDM features;
- preprocessing inside PyRadiomics: the image is z-scored over the whole image and scaled by 100
  (``normalize``, ``normalizeScale``), cropped to the mask's bounding box plus 10 px, resampled to
  2x2 px spacing with B-splines (the input's pixel spacing is 1), grey levels binned with width 5,
  first-order energies shifted by 300; features are computed in 2-D;
- the region: the whole image, except the top-left pixel (a full-image mask trips a PyRadiomics
  bug), or a caller-given mask (the breast, for ``frd_breast``);
- every numeric output is kept, the numeric diagnostics included (mean, minimum and maximum of
  the image before and after resampling, mask voxel counts), as frd-score v1 does; string and
  tuple diagnostics are dropped.

Images enter as float [0, 1] and are scaled to [0, 255] (the grey levels frd-score reads from an
8-bit PNG). Every feature and the FRD are invariant to that linear scale, except for
round-off: the intensity normalisation and the per-feature z-scoring undo it.

Cost: a few hundred ms per image at 320x256 and several seconds at 1280x1024 (one CPU core; see
reports/frd_speed.md). Features are float64.

References:
    J. J. M. van Griethuysen et al. Computational radiomics system to decode the radiographic
    phenotype. Cancer Research 77(21), 2017.
    N. Konz, R. Osuala et al. Fréchet Radiomic Distance (FRD): a versatile metric for comparing
    medical imaging datasets. Medical Image Analysis, 103943, 2026.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

RADIOMICS_FIX: Final[str] = 'python -m pip install "pyradiomics-bhklab==3.1.4" (or reinstall mammoeval)'
"""The one-line fix shown when PyRadiomics is absent."""

FRD_V1_GLCM: Final[tuple[str, ...]] = (
    "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast",
    "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "JointEnergy", "JointEntropy",
    "Imc1", "Imc2", "Idm", "Idmn", "Id", "Idn", "InverseVariance", "MaximumProbability", "SumEntropy", "SumSquares",
)
"""GLCM features of FRD v1 (MCC and the deprecated ones left out)."""

FRD_V1_LOG_SIGMA_PX: Final[tuple[float, ...]] = (2.0, 3.0, 4.0, 5.0)
_NORMALIZE_SCALE: Final[float] = 100.0
_WHOLE_IMAGE_DIAGNOSTICS: Final[str] = "diagnostics_Image-original_"
INTENSITY_SCALE: Final[float] = 255.0
"""Images in [0, 1] are multiplied by this before extraction (8-bit grey levels)."""


def frd_v1_params() -> dict[str, Any]:
    """Return the PyRadiomics parameter dictionary of FRD v1 for 2-D images (a fresh copy)."""
    return {
        "imageType": {"Original": {}, "LoG": {"sigma": list(FRD_V1_LOG_SIGMA_PX)}, "Wavelet": {}},
        "featureClass": {"firstorder": None, "glcm": list(FRD_V1_GLCM), "glrlm": None, "glszm": None, "ngtdm": None},
        "setting": {
            "normalize": True, "normalizeScale": _NORMALIZE_SCALE,
            "interpolator": "sitkBSpline", "resampledPixelSpacing": [2, 2, 0], "padDistance": 10, "preCrop": True,
            "force2D": True, "force2Ddimension": 0,
            "binWidth": 5, "voxelArrayShift": 300, "label": 1,
        },
    }


def radiomics_version() -> str | None:
    """Return the installed PyRadiomics version, or None when it cannot be imported."""
    try:
        import radiomics  # lazy: a broken or absent PyRadiomics build must not break importing the metrics
    except Exception:  # a broken build raises more than ImportError
        return None
    return str(getattr(radiomics, "__version__", "unknown"))


@functools.lru_cache(maxsize=2)
def _extractor(normalize: bool) -> Any:
    """Return one configured PyRadiomics extractor per process and setting (building one validates the schema)."""
    # lazy: PyRadiomics costs 0.4 s at import and only FRD needs it
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR + 10)  # its per-image INFO/WARNING lines would flood the console
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    params = frd_v1_params()
    params["setting"]["normalize"] = normalize
    return featureextractor.RadiomicsFeatureExtractor(params)


def full_image_mask(height: int, width: int) -> np.ndarray:
    """Return the FRD v1 whole-image region: bool [H, W], True except the top-left pixel."""
    m = np.ones((height, width), dtype=bool)
    m[0, 0] = False
    return m


def _numeric(value: Any) -> float | None:
    """Return `value` as a float when it is one number (frd-score keeps what float() accepts)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def extract_radiomics(image: np.ndarray, mask: np.ndarray | None = None, *,
                      normalize_in_region: bool = False) -> dict[str, float]:
    """Return the FRD v1 radiomics features of one image, name -> value (see the module docstring).

    Args:
        image: float [H, W] grey image in [0, 1].
        mask: bool [H, W] region; None = the whole image (`full_image_mask`). The top-left pixel
            is always left out.
        normalize_in_region: z-score the intensities over the region's pixels (x 100) instead of
            PyRadiomics' whole-image normalisation, so that the share of background does not move
            the intensity scale, and drop the diagnostics of the whole original image. Then pixels
            more than 40 px from the region's bounding box (10 resampled voxels of padding plus
            the B-spline and wavelet support) change no feature.

    Raises:
        ImportError: PyRadiomics is not installed (fix: `RADIOMICS_FIX`).
        ValueError: the image is not 2-D, or the region holds fewer than 2 pixels.
    """
    import SimpleITK as sitk  # lazy: installed with PyRadiomics, only FRD needs it

    if image.ndim != 2:
        raise ValueError(f"expected a [H, W] image, got shape {image.shape}")
    region = full_image_mask(*image.shape) if mask is None else np.asarray(mask, dtype=bool).copy()
    if region.shape != image.shape:
        raise ValueError(f"mask shape {region.shape} differs from image shape {image.shape}")
    region[0, 0] = False
    if int(region.sum()) < 2:
        raise ValueError("the radiomics region holds fewer than 2 pixels")
    pixels = np.asarray(image, dtype=np.float32) * np.float32(INTENSITY_SCALE)
    if normalize_in_region:
        inside = pixels[region].astype(np.float64)
        pixels = ((pixels - inside.mean()) / max(float(inside.std()), 1e-6) * _NORMALIZE_SCALE).astype(np.float32)
    img = sitk.GetImageFromArray(pixels[None])
    img.SetSpacing((1.0, 1.0, 1.0))
    msk = sitk.GetImageFromArray(region.astype(np.uint8)[None])
    msk.SetSpacing((1.0, 1.0, 1.0))
    out: dict[str, float] = {}
    for name, value in _extractor(not normalize_in_region).execute(img, msk).items():
        if normalize_in_region and str(name).startswith(_WHOLE_IMAGE_DIAGNOSTICS):
            continue
        v = _numeric(value)
        if v is not None:
            out[str(name)] = v
    return out


def features_to_matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    """Return float64 [len(rows), len(names)]: each row's values in `names` order (NaN where missing)."""
    return np.array([[row.get(n, math.nan) for n in names] for row in rows], dtype=np.float64).reshape(len(rows),
                                                                                                      len(names))
