"""Metric result keys: the only place they are spelled.

SWD keys are ``swd_avg`` and one per pyramid level, ``swd_l0`` (full resolution) ... ``swd_l{L-1}``
(level i is ceil(H / 2**i) x ceil(W / 2**i)); values are stored raw (the paper prints SWD x 1e3: a
display convention, see `mammoeval.metrics.registry`). Feature metrics in the offline space carry
the ``_offline`` suffix. Derived keys are computed from several places of a score row
(`mammoeval.score.rows.metric_of`).
"""

from __future__ import annotations

from typing import Final

KEY_SWD_AVG: Final = "swd_avg"
KEY_MSSSIM_FAKE: Final = "msssim_fake"
KEY_MSSSIM_REAL: Final = "msssim_real"
KEY_FID: Final = "fid"
KEY_FID_INF: Final = "fid_inf"
"""FD-infinity: the Fréchet distance extrapolated to infinitely large sets (Chong & Forsyth 2020)."""
KEY_KID: Final = "kid"
KEY_PRECISION: Final = "precision"
KEY_RECALL: Final = "recall"
KEY_DENSITY: Final = "density"
KEY_COVERAGE: Final = "coverage"
KEY_MEMORIZATION_RATE: Final = "memorization_rate"
KEY_NN_DISTANCE_MEDIAN: Final = "nn_distance_median"
KEY_C2ST_AUC: Final = "c2st_auc"
"""Classifier two-sample test: held-out AUC of generated vs real (0.5 = indistinguishable)."""
OFFLINE_SUFFIX: Final = "_offline"
KEY_FRD: Final = "frd"
"""Fréchet Radiomics Distance v1, ln(d^2) (frd-score's definition)."""
KEY_FRD_BREAST: Final = "frd_breast"
"""FRD over QA's breast mask, intensities normalised over the breast (not comparable with published FRD)."""

KEY_ARTIFACT_RATE: Final = "artifact_rate"
"""Derived: share of generated images with any QA artifact flag."""
KEY_ARTIFACT_RATE_REAL: Final = "artifact_rate_real"
"""Derived: share of real images with any QA artifact flag."""
KEY_MSSSIM_GAP: Final = "msssim_gap"
"""``msssim_fake - msssim_real`` (> 0 = less diverse than the real set): computed by the MS-SSIM
metric with an interval over both sets; derived from the two for rows written before it existed."""

KEY_SWD_AVG_BREAST: Final = "swd_avg_breast"
"""SWD with patch centres inside QA's breast mask (see `mammoeval.metrics.swd`, region "breast")."""
SWD_BREAST_LEVEL_PREFIX: Final = "swd_breast_l"
KEY_MSSSIM_FAKE_BREAST: Final = "msssim_fake_breast"
"""MS-SSIM diversity over the union of each pair's breast masks (region "breast")."""
KEY_MSSSIM_REAL_BREAST: Final = "msssim_real_breast"
KEY_MSSSIM_GAP_BREAST: Final = "msssim_gap_breast"

PRDC_KEYS: Final[tuple[str, str, str, str]] = (KEY_PRECISION, KEY_RECALL, KEY_DENSITY, KEY_COVERAGE)

SWD_LEVEL_PREFIX: Final = "swd_l"


def swd_level_key(level: int) -> str:
    """Return the key of SWD pyramid level `level` (0 = full resolution)."""
    return f"{SWD_LEVEL_PREFIX}{level}"


def offline_key(key: str) -> str:
    """Return the offline-feature-space form of a feature metric key (``fid`` -> ``fid_offline``)."""
    return key + OFFLINE_SUFFIX
