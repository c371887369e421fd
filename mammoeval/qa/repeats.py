"""The repeated-texture detector lives in `mammoeval.qa.detectors.repeats`; this name is kept for imports."""

from mammoeval.qa.detectors.repeats import (  # noqa: F401
    _flattening,
    _verified_area,
    compute_candidates,
    compute_matched_area,
    detect_repeats,
)
