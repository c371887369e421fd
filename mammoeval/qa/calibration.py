"""Detector thresholds fitted on the user's own clean real images, per view, for a chosen false-positive rate.

Every calibrated detector (`mammoeval.qa.detectors.CALIBRATED`) yields a continuous score. Its
threshold is set from the distribution of that score over the real images of one view, measured at
the working resolution QA runs at, so that a clean image like them is flagged by that detector with
probability about `fp_rate` (per detector; over K detectors at most about K x fp_rate of clean
images carry some flag, and the benchmark reports that share too).

Tail estimate (`fit_threshold`). Real sets are small (20-100 images of a view) and a 2% quantile of
20 points is its largest value: one odd real image would set it, and the next clean image exceeds
it with probability 1/21. Instead the upper half of the scores above their median u is modelled as
an exponential tail (a generalized Pareto tail with shape 0: P(S > u + x) = 0.5 exp(-x / sigma)),
whose scale is estimated robustly, sigma = median(S - u | S > u) / ln 2, and the threshold is the
tail quantile ``u + sigma ln(0.5 / rate)``. Median and median excess ignore a few extreme real
images (breakdown ~25%), unlike the sample maximum, a mean excess or a maximum-likelihood GPD fit
on a dozen points; those images are listed as data-quality findings (`Calibration.data_quality`)
instead of setting the norm. The exponential tail is heavier than a normal one fitted by
median + k MAD (which flagged 9 of 29 held-out clean images at 320 rows, where many scores tie at
0) and lighter than a fitted power law, whose shape a dozen points cannot pin down.

Many detectors score exactly 0 on most clean images (no candidate found): the tail is fitted on
the non-zero scores at the conditional rate ``rate / P(S > 0)``; with fewer than MIN_NONZERO
non-zero scores nothing can be fitted and the detector keeps its shipped threshold. The scale is
floored at MIN_SCALE and the threshold kept within [MIN_FACTOR, MAX_FACTOR] x the shipped default
(`defaults.MIN_THRESHOLD_FACTOR`, `MAX_THRESHOLD_FACTOR`) and at most the detector's own
`max_threshold`; a clamped threshold is recorded as such. Evidence that is an artifact whatever the
real set (one extra breast-sized component or enclosed hole) scores MAX_FACTOR or more, so it
flags under any calibration.

Views with fewer than `min_images` real images (default MIN_IMAGES) use the shipped defaults, with
one warning saying so; the warning is kept in the calibration and in every row judged with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import write_json_atomic
from mammoeval.qa.detectors import CALIBRATED, REGISTRY
from mammoeval.qa.detectors.defaults import (
    DEFAULT_THRESHOLD,
    MAX_THRESHOLD_FACTOR,
    MIN_THRESHOLD_FACTOR,
    OUTLINE_REFERENCE,
    PROVENANCE,
)
from mammoeval.qa.detectors.outline import fit_reference, outline_score

CALIBRATION_VERSION = 1
"""Format and method version of a calibration (part of its id)."""
DEFAULT_FP_RATE = 0.02
"""Share of clean real images each detector flags that a calibration aims at."""
MIN_IMAGES = 20
"""Fewest real images of a view its thresholds are fitted on; fewer use the shipped defaults."""
MIN_NONZERO = 8
"""Fewest non-zero clean scores a detector's tail is fitted on (fewer: its shipped threshold is kept)."""
ZERO_SCORE = 1e-6
"""Scores at or below this count as zero (the detector found no candidate)."""
MIN_SCALE = 0.02
"""Smallest exponential tail scale (normalised score units: 2% of the shipped threshold)."""
MIN_FACTOR, MAX_FACTOR = MIN_THRESHOLD_FACTOR, MAX_THRESHOLD_FACTOR
VIEWS = ("CC", "MLO", "unknown")


class CalibrationWarning(UserWarning):
    """A view had too few real images to calibrate: its images use the shipped thresholds (shown once per message)."""


@dataclass(frozen=True)
class ViewCalibration:
    """Thresholds of one view.

    Attributes:
        thresholds: detector name -> threshold (normalised score units).
        calibrated: whether the thresholds were fitted (False = shipped defaults).
        n_images: real images they were fitted on (0 for defaults).
        outline_reference: outline feature -> (median, robust scale) of the view's real outlines.
        clamped: names of the detectors whose fitted threshold was clamped to [MIN_FACTOR, MAX_FACTOR] x default.
    """

    thresholds: dict[str, float]
    calibrated: bool
    n_images: int = 0
    outline_reference: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(OUTLINE_REFERENCE))
    clamped: tuple[str, ...] = ()


def default_view() -> ViewCalibration:
    """Return the shipped defaults as a ViewCalibration."""
    return ViewCalibration({n: DEFAULT_THRESHOLD for n in CALIBRATED}, calibrated=False)


@dataclass(frozen=True)
class Calibration:
    """Per-view detector thresholds and how they were made.

    Attributes:
        id: "defaults" or "cal-<16 hex>": a hash of everything below but the warnings and findings.
        source: what the thresholds come from (real set name, or the shipped defaults' provenance).
        fp_rate: share of clean images each detector flags, aimed at.
        max_height: QA working height the scores were measured at.
        working_rows: (min, median, max) rows of the real images at the working resolution ((0, 0, 0) for defaults).
        views: "CC", "MLO", "unknown", "all" -> ViewCalibration ("all": every view pooled, for images of
            no known view).
        warnings: one line each (e.g. a view too small to calibrate).
        data_quality: real images whose score reaches the fitted threshold of their view: dicts of
            "id", "view", "detector", "score", "threshold".
    """

    id: str
    source: str
    fp_rate: float
    max_height: int
    working_rows: tuple[int, int, int]
    views: dict[str, ViewCalibration]
    warnings: tuple[str, ...] = ()
    data_quality: tuple[dict[str, Any], ...] = ()

    def for_view(self, view: str) -> ViewCalibration:
        """Return the thresholds for images of `view` (unknown views use the pooled "all" ones)."""
        v = self.views.get(view if view in ("CC", "MLO") else "all")
        return v if v is not None else self.views.get("all", default_view())

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (`from_json` reads it back)."""
        return {
            "version": CALIBRATION_VERSION, "id": self.id, "source": self.source, "fp_rate": self.fp_rate,
            "max_height": self.max_height, "working_rows": list(self.working_rows),
            "views": {k: {"thresholds": v.thresholds, "calibrated": v.calibrated, "n_images": v.n_images,
                          "outline_reference": {f: list(ms) for f, ms in v.outline_reference.items()},
                          "clamped": list(v.clamped)} for k, v in self.views.items()},
            "warnings": list(self.warnings), "data_quality": list(self.data_quality),
        }

    def summary(self) -> dict[str, Any]:
        """Return what a score row records: id, source, fp_rate, per view n and whether calibrated, warnings."""
        return {"id": self.id, "source": self.source, "fp_rate": self.fp_rate,
                "views": {k: {"calibrated": v.calibrated, "n_images": v.n_images} for k, v in self.views.items()},
                "warnings": list(self.warnings), "data_quality": list(self.data_quality)}


def from_json(data: Mapping[str, Any]) -> Calibration:
    """Return the Calibration of `Calibration.to_json` output.

    Raises:
        ValueError: another version or a missing key.
    """
    if data.get("version") != CALIBRATION_VERSION:
        raise ValueError(f"calibration version {data.get('version')!r}, expected {CALIBRATION_VERSION}")
    try:
        views = {k: ViewCalibration({n: float(t) for n, t in v["thresholds"].items()}, bool(v["calibrated"]),
                                    int(v["n_images"]),
                                    {f: (float(ms[0]), float(ms[1])) for f, ms in v["outline_reference"].items()},
                                    tuple(v.get("clamped", ())))
                 for k, v in data["views"].items()}
        return Calibration(str(data["id"]), str(data["source"]), float(data["fp_rate"]), int(data["max_height"]),
                           tuple(int(x) for x in data["working_rows"]), views,  # type: ignore[arg-type]
                           tuple(data.get("warnings", ())), tuple(data.get("data_quality", ())))
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"not a QA calibration: missing or malformed {e}") from e


def shipped_defaults(*, max_height: int = 1280, warnings: Sequence[str] = ()) -> Calibration:
    """Return the calibration of the shipped default thresholds (id "defaults")."""
    views = {v: default_view() for v in (*VIEWS, "all")}
    return Calibration("defaults", PROVENANCE, DEFAULT_FP_RATE, max_height, (0, 0, 0), views, tuple(warnings))


def per_detector_rate(fp_rate: float, n_detectors: int) -> float:
    """Return the per-detector false-positive rate that gives `fp_rate` over `n_detectors` independent ones."""
    return 1.0 - (1.0 - fp_rate) ** (1.0 / max(1, n_detectors))


def fit_threshold(scores: Sequence[float], rate: float) -> float | None:
    """Return the score a clean image exceeds with probability `rate` (robust exponential tail), or None.

    See the module docstring: zero scores are split off, the non-zero ones get an exponential tail
    above their median with the median-excess scale (at least MIN_SCALE). None when fewer than
    MIN_NONZERO scores are non-zero. The result is not clamped here.

    Args:
        scores: clean real scores (>= 0).
        rate: wanted exceedance probability, in (0, 0.5).
    """
    s = np.maximum(np.asarray(scores, np.float64), 0.0)
    pos = s[s > ZERO_SCORE]
    if pos.size < MIN_NONZERO:
        return None
    cond = rate * s.size / pos.size  # P(S > t | S > 0)
    u = float(np.median(pos))
    if cond >= 0.5:
        return u
    excess = pos[pos > u] - u
    sigma = max(float(np.median(excess)) / math.log(2.0) if excess.size else 0.0, MIN_SCALE)
    return u + sigma * math.log(0.5 / cond)


@dataclass(frozen=True)
class RealScores:
    """What calibration reads from one clean real image: its view, id, scores and outline features."""

    id: str
    view: str
    scores: Mapping[str, float]
    outline_features: Mapping[str, float] | None
    working_rows: int


def calibrate(reals: Sequence[RealScores], *, fp_rate: float = DEFAULT_FP_RATE, max_height: int = 1280,
              min_images: int = MIN_IMAGES, source: str = "real set", per_view: bool = True) -> Calibration:
    """Return the calibration fitted on the scores of clean real images.

    Args:
        reals: one entry per real image (broken images are left out by the caller).
        fp_rate: share of clean images each detector flags, aimed at, in (0, 0.5).
        max_height: QA working height the scores were measured at (recorded).
        min_images: fewest images of a view that are fitted (fewer: shipped defaults and a warning).
        source: name of the real set (recorded).
        per_view: fit CC and MLO separately (False: only the pooled "all" thresholds are fitted
            and every view uses them).

    Raises:
        ValueError: fp_rate outside (0, 0.5).
    """
    if not 0.0 < fp_rate < 0.5:
        raise ValueError(f"fp_rate must be in (0, 0.5), got {fp_rate}")
    rate = fp_rate
    groups: dict[str, list[RealScores]] = {"all": list(reals)}
    for v in VIEWS:
        groups[v] = [r for r in reals if r.view == v] if per_view else []
    views: dict[str, ViewCalibration] = {}
    warnings: list[str] = []
    findings: list[dict[str, Any]] = []
    short: list[str] = []
    for name, group in groups.items():
        if len(group) < min_images:
            if group or name == "all":
                short.append(f"{name} {len(group)}")
            if not per_view and name != "all":
                continue
            views[name] = default_view()
            continue
        feats = [r.outline_features for r in group if r.outline_features]
        reference = fit_reference(list(feats)) if len(feats) >= min_images else dict(OUTLINE_REFERENCE)
        thresholds: dict[str, float] = {}
        clamped: list[str] = []
        for det in CALIBRATED:
            s = [outline_score(r.outline_features, reference) if det == "outline" else float(r.scores.get(det, 0.0))
                 for r in group]
            fitted = fit_threshold(s, rate)
            lo = MIN_FACTOR * DEFAULT_THRESHOLD
            hi = min(MAX_FACTOR * DEFAULT_THRESHOLD, REGISTRY[det].max_threshold)
            t = DEFAULT_THRESHOLD if fitted is None else fitted
            if fitted is not None and not lo <= t <= hi:
                clamped.append(det)
            thresholds[det] = round(float(min(max(t, lo), hi)), 6)
            if name != "all" or not per_view:
                findings += [{"id": r.id, "view": r.view, "detector": det, "score": round(x, 5),
                              "threshold": thresholds[det]} for r, x in zip(group, s, strict=True)
                             if x >= thresholds[det]]
        views[name] = ViewCalibration(thresholds, True, len(group), reference, tuple(clamped))
    if not per_view:
        views.update({v: views["all"] for v in VIEWS})
    if short:
        warnings.append(f"QA calibration: too few real images to fit thresholds ({', '.join(short)}; "
                        f"need {min_images} of a view): those images use the shipped default thresholds")
        _warnings.warn(warnings[-1], CalibrationWarning, stacklevel=2)
    rows = sorted(r.working_rows for r in reals) or [0]
    body = {"version": CALIBRATION_VERSION, "fp_rate": fp_rate, "max_height": max_height,
            "views": {k: [v.thresholds, v.calibrated, v.n_images, v.outline_reference] for k, v in sorted(views.items())}}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()[:16]
    if not any(v.calibrated for v in views.values()):
        return shipped_defaults(max_height=max_height, warnings=warnings)
    return Calibration(f"cal-{digest}", source, fp_rate, max_height, (rows[0], rows[len(rows) // 2], rows[-1]),
                       views, tuple(warnings), tuple(sorted(findings, key=lambda f: (f["id"], f["detector"]))))


def write_calibration(calibration: Calibration, path: str | Path) -> None:
    """Write the calibration as JSON, atomically."""
    write_json_atomic(Path(path), calibration.to_json())


def read_calibration(path: str | Path) -> Calibration:
    """Return the calibration stored at `path`.

    Raises:
        BadInputError: the file is missing, not JSON or not a calibration of this version.
    """
    p = Path(path)
    if not p.is_file():
        raise BadInputError(p, "no such calibration file")
    try:
        return from_json(json.loads(p.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInputError(p, f"not a QA calibration ({e})") from e
