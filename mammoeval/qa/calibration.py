"""Detector thresholds fitted on the user's own clean real images, per view, for a chosen false-positive rate.

Every calibrated detector (`mammoeval.qa.detectors.CALIBRATED`) yields a continuous score. Its
threshold is set from the distribution of that score over the real images of one view, measured at
the working resolution QA runs at, so that a clean image like them is flagged by some detector
with probability about `fp_rate` (split evenly over the detectors: each gets
``1 - (1 - fp_rate) ** (1 / K)``).

Tail estimate (`fit_threshold`). Real sets are small (20-100 images of a view) and the wanted
per-detector rate (~0.3%) lies beyond the largest of them, so an empirical quantile cannot give it
and a single odd real image would set it. Scores are mapped to t = log(score + SCORE_OFFSET) (the
scores are ratios of a statistic to a limit, with a heavy upper tail that the log makes about
exponential); the upper half of t above its median u is modelled as exponential (a generalized
Pareto tail with shape 0) whose scale is estimated robustly, sigma = median(t - u | t > u) / ln 2,
and the threshold is the tail quantile ``u + sigma ln(0.5 / rate)``. Median and median excess
ignore a few extreme real images (breakdown ~25%), unlike a fitted maximum or a mean excess;
those images are listed as data-quality findings (`Calibration.data_quality`) instead of setting
the norm. The scale is floored at MIN_LOG_SCALE (a set of near-identical scores would otherwise
put the threshold at them) and the result is kept within [MIN_FACTOR, MAX_FACTOR] x the shipped
default (recorded as "clamped").

Views with fewer than `min_images` real images (default MIN_IMAGES) use the shipped defaults, with
one warning saying so; the warning is kept in the calibration and in every row judged with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.qa.detectors import CALIBRATED
from mammoeval.qa.detectors.defaults import DEFAULT_THRESHOLD, OUTLINE_REFERENCE, PROVENANCE

CALIBRATION_VERSION = 1
"""Format and method version of a calibration (part of its id)."""
DEFAULT_FP_RATE = 0.02
"""Share of clean real images flagged by some detector that a calibration aims at."""
MIN_IMAGES = 20
"""Fewest real images of a view its thresholds are fitted on; fewer use the shipped defaults."""
SCORE_OFFSET = 0.05
"""Added to scores before the log (a twentieth of the default threshold): zero scores stay finite."""
MIN_LOG_SCALE = 0.15
"""Smallest exponential scale of the log-score tail (a 16% spread of the scores)."""
MIN_FACTOR, MAX_FACTOR = 0.5, 4.0
"""A calibrated threshold stays within these multiples of the shipped default: below half of it the
scores are too close to the detectors' noise floor to mean an artifact; above four times, a real set
that clean scores so high is more likely broken or mislabelled (it is reported as clamped)."""
VIEWS = ("CC", "MLO", "unknown")


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
        fp_rate: share of clean images flagged by some detector aimed at.
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


def fit_threshold(scores: Sequence[float], rate: float) -> float:
    """Return the threshold a clean score exceeds with probability `rate`: robust exponential tail of the log score.

    See the module docstring (median, median excess of the upper half, MIN_LOG_SCALE floor). The
    result is not clamped here.

    Args:
        scores: clean real scores (>= 0; at least 2).
        rate: wanted exceedance probability, in (0, 0.5).
    """
    t = np.log(np.maximum(np.asarray(scores, np.float64), 0.0) + SCORE_OFFSET)
    u = float(np.median(t))
    excess = t[t > u] - u
    sigma = float(np.median(excess)) / math.log(2.0) if excess.size else 0.0
    sigma = max(sigma, MIN_LOG_SCALE)
    return float(math.exp(u + sigma * math.log(0.5 / rate)) - SCORE_OFFSET)


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
        fp_rate: share of clean images flagged by some detector aimed at, in (0, 0.5).
        max_height: QA working height the scores were measured at (recorded).
        min_images: fewest images of a view that are fitted (fewer: shipped defaults and a warning).
        source: name of the real set (recorded).
        per_view: fit CC and MLO separately (False: only the pooled "all" thresholds are fitted
            and every view uses them).

    Raises:
        ValueError: fp_rate outside (0, 0.5).
    """
    from mammoeval.qa.detectors.outline import fit_reference, outline_score

    if not 0.0 < fp_rate < 0.5:
        raise ValueError(f"fp_rate must be in (0, 0.5), got {fp_rate}")
    rate = per_detector_rate(fp_rate, len(CALIBRATED))
    groups: dict[str, list[RealScores]] = {"all": list(reals)}
    for v in VIEWS:
        groups[v] = [r for r in reals if r.view == v] if per_view else []
    views: dict[str, ViewCalibration] = {}
    warnings: list[str] = []
    findings: list[dict[str, Any]] = []
    for name, group in groups.items():
        if len(group) < min_images:
            if group or name == "all":
                warnings.append(f"QA calibration: {len(group)} real {name} images (< {min_images}); "
                                f"{name} images use the shipped default thresholds")
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
            t = fit_threshold(s, rate)
            lo, hi = MIN_FACTOR * DEFAULT_THRESHOLD, MAX_FACTOR * DEFAULT_THRESHOLD
            if not lo <= t <= hi:
                clamped.append(det)
            thresholds[det] = round(float(min(max(t, lo), hi)), 6)
            if name != "all" or not per_view:
                findings += [{"id": r.id, "view": r.view, "detector": det, "score": round(x, 5),
                              "threshold": thresholds[det]} for r, x in zip(group, s, strict=True)
                             if x >= thresholds[det]]
        views[name] = ViewCalibration(thresholds, True, len(group), reference, tuple(clamped))
    if not per_view:
        views.update({v: views["all"] for v in VIEWS})
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
    from mammoeval.fsutil import write_json_atomic

    write_json_atomic(Path(path), calibration.to_json())


def read_calibration(path: str | Path) -> Calibration:
    """Return the calibration stored at `path`.

    Raises:
        BadInputError: the file is missing, not JSON or not a calibration of this version.
    """
    from mammoeval.errors import BadInputError

    p = Path(path)
    if not p.is_file():
        raise BadInputError(p, "no such calibration file")
    try:
        return from_json(json.loads(p.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInputError(p, f"not a QA calibration ({e})") from e
