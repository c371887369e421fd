"""The detector protocol and what every detector returns.

A detector is a pure function of the working image (float32 [H, W] in [0, 1], chest wall LEFT) and
its `Anatomy` that returns a `Finding`: a continuous score (>= 0, larger = more artifact-like), the
threshold it was judged against, the flag, a short reason and an optional heatmap. Scores are in
units where the shipped default threshold is 1 (`mammoeval.qa.detectors.defaults`); a calibration
(`mammoeval.qa.calibration`) replaces that threshold by one fitted on the user's clean real images,
and `Finding.judged` re-flags a finding against it without recomputing the score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from mammoeval.qa.anatomy import Anatomy

MID_HEIGHT = 512
"""Height of the mid-resolution image used by the texture detectors."""


@dataclass(frozen=True)
class Finding:
    """One detector's verdict on one image.

    Attributes:
        name: detector name.
        score: >= 0; larger = more artifact-like; `flag` is `score >= threshold`.
        threshold: the threshold used.
        flag: whether the image is flagged.
        reason: short text of what was found ("" when not flagged).
        heatmap: optional float32 [h, w] map (coarse, chest wall left), larger = more suspicious.
        detail: what the detector would report if flagged (kept when not flagged, for re-judging).
        calibrated: whether `threshold` comes from a calibration on real images (False = shipped default).
    """

    name: str
    score: float
    threshold: float
    flag: bool
    reason: str = ""
    heatmap: np.ndarray | None = None
    detail: str = ""
    calibrated: bool = False

    def judged(self, threshold: float, *, calibrated: bool) -> Finding:
        """Return this finding judged against another threshold (same score, heatmap and detail)."""
        flag = self.score >= threshold
        return replace(self, threshold=float(threshold), flag=flag, reason=self.detail if flag else "",
                       calibrated=calibrated)


def make_finding(name: str, score: float, threshold: float, reason: str,
                 heatmap: np.ndarray | None = None) -> Finding:
    """Return a Finding with `flag = score >= threshold` and the reason kept only when flagged."""
    score = float(score) if np.isfinite(score) else 0.0
    flag = score >= threshold
    return Finding(name, score, threshold, flag, reason if flag else "", heatmap, detail=reason)


class Detector(Protocol):
    """One artifact detector.

    Attributes:
        name: the detector's name (the key of its score and flag everywhere).
        calibrate: whether its threshold is fitted on real images (False: a rule, e.g. NaN pixels).
        needs_anatomy: False for detectors that judge the raw input before any anatomy exists.
        max_threshold: the largest threshold a calibration may set (a score this high is an artifact
            whatever the real set, e.g. one enclosed hole in the breast).
    """

    @property
    def name(self) -> str: ...

    @property
    def calibrate(self) -> bool: ...

    @property
    def needs_anatomy(self) -> bool: ...

    @property
    def max_threshold(self) -> float: ...

    def score(self, work: np.ndarray, anatomy: Anatomy | None) -> Finding:
        """Return the finding at the shipped default threshold (1)."""
        ...


@dataclass(frozen=True)
class FunctionDetector:
    """A `Detector` made of a function ``(work, anatomy) -> Finding`` judged at the default threshold."""

    name: str
    fn: Callable[[np.ndarray, Anatomy | None], Finding]
    calibrate: bool = True
    needs_anatomy: bool = True
    max_threshold: float = float("inf")

    def score(self, work: np.ndarray, anatomy: Anatomy | None) -> Finding:
        """Return the finding of `fn` at the shipped default threshold."""
        return self.fn(work, anatomy)


def mask_at(mask: np.ndarray, shape: tuple[int, ...], pixel: float) -> np.ndarray:
    """Return the coarse mask resampled (nearest) onto a grid of `shape` whose pixels are `pixel` coarse pixels."""
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * pixel).astype(int), mask.shape[0] - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * pixel).astype(int), mask.shape[1] - 1)
    return mask[np.ix_(rows, cols)]


def fit_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return `a` cropped or zero-padded to `shape`, as float32."""
    out = np.zeros(shape[:2], np.float32)
    h, w = min(a.shape[0], shape[0]), min(a.shape[1], shape[1])
    out[:h, :w] = a[:h, :w]
    return out


def required(anatomy: Anatomy | None) -> Anatomy:
    """Return the anatomy; raise ValueError when a detector that needs one is given None."""
    if anatomy is None:
        raise ValueError("this detector needs the image's anatomy")
    return anatomy
