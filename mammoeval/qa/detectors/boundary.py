"""Boundary detector: implausible breast outline (extra components, holes, jagged or notched skin line)."""

from __future__ import annotations

import numpy as np

from mammoeval.qa.anatomy import Anatomy
from mammoeval.qa.detectors.base import Finding, FunctionDetector, required
from mammoeval.qa.detectors.base import make_finding as _finding
from mammoeval.qa.detectors.defaults import DEFAULT_THRESHOLD, MAX_THRESHOLD_FACTOR

JAGGEDNESS_LIMIT = 0.15
"""Skin-line jaggedness that alone reaches the boundary threshold (see anatomy.compute_skin_jaggedness).

Rule: 1.3 x the largest clean value on real-dev (0.113, a noisy film skin line) and the phantoms
(0.03), measured at 512 rows."""


CONCAVITY_LIMIT = 3.6
"""Skin-line concavity (half turns, see anatomy.compute_skin_concavity) that alone reaches the
boundary threshold.

Rule: 1.3 x the largest clean value on the tuning half of real-dev (2.75, the noisy skin line of a
mini-MIAS film scan; digital images <= 0.9, phantoms <= 1.5), measured at 512 rows. A notch bitten
into the skin line adds about one half turn, so ~5 clear notches flag an otherwise smooth outline."""
FINE_CONCAVITY_LIMIT = 4.4
"""Fine skin-line concavity (`Anatomy.skin_concavity_fine`: measured on >= 512 rows when the outline
image is coarser, e.g. an input of 513-1023 rows that the outline measures halve) that alone
reaches the boundary threshold.

Rule: 1.3 x the largest clean value on the tuning half of real-dev and the phantoms (3.39, the noisy
skin line of the NEMA digitised film at 583 rows; mini-MIAS films <= 2.3, digital images <= 1.8),
rounded. At half size, bites 2-4 px deep into a 583-row image shrink to 1-2 px and turn too little."""


STRUCTURE_SCORE = MAX_THRESHOLD_FACTOR * DEFAULT_THRESHOLD
"""Score of one extra breast-sized component or one enclosed hole: the largest calibrated threshold."""


def detect_boundary(anatomy: Anatomy, *, threshold: float = 1.0) -> Finding:
    """Return the implausible-boundary finding.

    Score: STRUCTURE_SCORE x ((extra breast-sized components) + (enclosed holes)) +
    max(jaggedness / JAGGEDNESS_LIMIT, concavity / CONCAVITY_LIMIT, fine concavity / FINE_CONCAVITY_LIMIT).
    The skin-line part is continuous and calibrated; one structural defect alone reaches the
    largest threshold a calibration may set, so it flags whatever the real set. Jaggedness sees a skin
    line roughened at the pixel scale; the concavity sees notches and scallops of any size (a notch barely lengthens the 4-connected
    outline, so jaggedness alone misses them).

    Args:
        anatomy: the image's anatomy.
        threshold: flag threshold on the score.
    """
    extra = max(0, anatomy.n_components - 1)
    jag = anatomy.skin_jaggedness / JAGGEDNESS_LIMIT
    concave = max(anatomy.skin_concavity / CONCAVITY_LIMIT, anatomy.skin_concavity_fine / FINE_CONCAVITY_LIMIT)
    score = STRUCTURE_SCORE * (extra + anatomy.n_holes) + max(jag, concave)
    parts = []
    if extra:
        parts.append(f"{extra} extra component(s)")
    if anatomy.n_holes:
        parts.append(f"{anatomy.n_holes} hole(s)")
    if jag >= 0.5:
        parts.append("jagged skin line")
    if concave >= 0.5:
        parts.append("notched skin line")
    return _finding("boundary", score, threshold, ", ".join(parts) or "implausible outline")




def _score(work: np.ndarray, anatomy: Anatomy | None) -> Finding:
    return detect_boundary(required(anatomy))


DETECTOR = FunctionDetector("boundary", _score)
