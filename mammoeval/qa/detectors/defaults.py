"""The shipped defaults: what QA uses when no calibration on the user's real images is available.

One place for the numbers that remain fixed, with where they come from. Each detector's score is
normalised inside its module so that the shipped threshold is 1; the normalising limits there
(e.g. `boundary.CONCAVITY_LIMIT`, `blobs.HOLE_STEP_LIMIT`) carry their own rule and data set. A
calibration (`mammoeval.qa.calibration`) replaces these thresholds by ones fitted on the run's
clean real images at the working resolution.
"""

from __future__ import annotations

from typing import Final

DEFAULT_THRESHOLD: Final = 1.0
"""Shipped threshold of every detector, in its normalised score units."""

MIN_THRESHOLD_FACTOR: Final = 0.5
MAX_THRESHOLD_FACTOR: Final = 4.0
"""A calibrated threshold stays within these multiples of the shipped one: below half of it the scores
are too close to the detectors' noise floor to mean an artifact; above four times, a real set that
clean scores so high is more likely broken or mislabelled (the calibration records it as clamped)."""

PROVENANCE: Final = ("shipped defaults: score limits set at 1.3 x the largest clean value on the "
                     "even-indexed half of real-dev (29 images: mini-MIAS film MLO, CDD-CESM CC, NYU, "
                     "NEMA film) and clean phantoms, measured at 512-640 rows")
"""Where the shipped thresholds come from (recorded in every row judged with them)."""

OUTLINE_REFERENCE: Final[dict[str, tuple[float, float]]] = {
    "depth_ratio": (0.509, 0.210),
    "solidity": (0.982, 0.098),
    "area_fraction": (0.634, 0.221),
    "nipple_height": (0.611, 0.170),
    "turning": (0.324, 0.121),
    "concave_share": (0.242, 0.136),
    "max_bend": (0.138, 0.082),
    "sign_changes": (1.0, 1.483),
    "roughness": (2.142, 0.649),
}
"""Outline feature (median, robust scale) of real outlines used without a calibration
(`outline.fit_reference` over the real-dev images at 640 rows, all views)."""
