"""Ground-truth records of a phantom mammogram and the options that decide which findings it gets.

Coordinates are output pixels of the canonical image (chest wall LEFT): ``x`` is the column and
``y`` the row, with pixel centres at integer coordinates (pixel ``[r, c]`` covers ``c - 0.5 <= x <
c + 0.5``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mammoeval.core.errors import ConfigError

View = Literal["CC", "MLO"]
Laterality = Literal["L", "R"]


@dataclass(frozen=True)
class Calcification:
    """One calcification: a small bright spot.

    Attributes:
        x, y: centre in output pixels (x = column, y = row).
        diameter_px: spot diameter in output pixels, within `FindingsConfig.diameter_px`.
        contrast: grey levels (of [0, 1]) the spot adds at its centre, after clipping at 1.
        cluster: cluster id within the image (0, 1, ...), -1 for a single calcification.
    """

    x: float
    y: float
    diameter_px: float
    contrast: float
    cluster: int


@dataclass(frozen=True)
class SkinMarker:
    """A round radio-opaque skin marker (bright ring or disc) centred on the skin line.

    Attributes:
        x, y: centre in output pixels.
        radius_px: outer radius in output pixels.
    """

    x: float
    y: float
    radius_px: float


@dataclass(frozen=True)
class TextBox:
    """Burned-in text such as "L CC"; the box holds every lit pixel of the text.

    Attributes:
        x0, y0: first column and row of the box (inclusive).
        x1, y1: end column and row (exclusive).
        text: the text. For right breasts it reads mirrored in the canonical image, as on a real
            right-breast image flipped into canonical orientation.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    text: str


@dataclass(frozen=True)
class PhantomTruth:
    """Everything known about a phantom image by construction.

    Attributes:
        view: "CC" or "MLO".
        laterality: "L" or "R" (before canonical flipping).
        breast_mask: bool [H, W], True on breast tissue (pectoral muscle included); the image is
            exactly 0 outside it except where markers and text are drawn.
        pectoral_mask: bool [H, W], the pectoral muscle (upper-left corner, MLO only); all False
            for CC.
        chest_wall_side: always "left" (canonical orientation).
        density: fibroglandular fraction in [0, 1]: mean glandular weight over the breast outside
            the pectoral muscle.
        calcifications, markers, texts: the findings drawn into the image.
    """

    view: str
    laterality: str
    breast_mask: np.ndarray
    pectoral_mask: np.ndarray
    chest_wall_side: str
    density: float
    calcifications: tuple[Calcification, ...]
    markers: tuple[SkinMarker, ...]
    texts: tuple[TextBox, ...]


@dataclass(frozen=True)
class PhantomImage:
    """A rendered phantom: float32 [H, W] in [0, 1], canonical orientation, and its ground truth."""

    image: np.ndarray
    truth: PhantomTruth


@dataclass(frozen=True)
class PhantomRecord:
    """What findings.json keeps per image: the truth without masks, plus the seed that re-renders it.

    `render_phantom(record.seed, size=..., view=record.view, laterality=record.laterality,
    findings=...)` with the dataset's size and findings options returns the identical image and its
    masks.
    """

    seed: int
    view: str
    laterality: str
    density: float
    calcifications: tuple[Calcification, ...]
    markers: tuple[SkinMarker, ...]
    texts: tuple[TextBox, ...]
    chest_wall_side: str = "left"


@dataclass(frozen=True)
class FindingsConfig:
    """Which findings a phantom gets, and how big and bright they are.

    Attributes:
        p_calcifications: probability that an image has calcifications at all.
        p_cluster: given calcifications, probability of one cluster (otherwise singles only).
        p_marker: probability of one round skin marker on the skin line.
        p_text: probability of burned-in view text ("L CC") in a corner away from the breast.
        n_single: inclusive range of single calcifications when an image has calcifications
            (at least one calcification is drawn when there is no cluster).
        cluster_size: inclusive range of calcifications in a cluster.
        cluster_radius_px: cluster members lie within this distance of the cluster centre
            (output pixels at 320 rows; scaled with the image height).
        diameter_px: range of calcification diameters in output pixels (1..4).
        contrast: range of calcification contrast in grey levels of [0, 1] (subtle to obvious).
        marker_radius_px: range of marker radii in output pixels at 320 rows (scaled with the
            image height, at least 2 px).
    """

    p_calcifications: float = 0.5
    p_cluster: float = 0.5
    p_marker: float = 0.3
    p_text: float = 0.5
    n_single: tuple[int, int] = (1, 4)
    cluster_size: tuple[int, int] = (3, 10)
    cluster_radius_px: float = 10.0
    diameter_px: tuple[float, float] = (1.0, 4.0)
    contrast: tuple[float, float] = (0.05, 0.4)
    marker_radius_px: tuple[float, float] = (3.0, 8.0)

    def __post_init__(self) -> None:
        for name in ("p_calcifications", "p_cluster", "p_marker", "p_text"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"FindingsConfig.{name} must be a probability in [0, 1], got {p}")
        _check_range("n_single", self.n_single, 0, 1000)
        _check_range("cluster_size", self.cluster_size, 1, 1000)
        _check_range("diameter_px", self.diameter_px, 0.5, 16.0)
        _check_range("contrast", self.contrast, 0.0, 1.0)
        _check_range("marker_radius_px", self.marker_radius_px, 1.0, 64.0)
        if self.cluster_radius_px <= 0:
            raise ConfigError(f"FindingsConfig.cluster_radius_px must be > 0, got {self.cluster_radius_px}")

    @classmethod
    def none(cls) -> FindingsConfig:
        """Return a config that draws no findings at all."""
        return cls(p_calcifications=0.0, p_cluster=0.0, p_marker=0.0, p_text=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as a JSON-ready dict (ranges as 2-element lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FindingsConfig:
        """Return the config written by `to_dict` (unknown keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        return cls(**kwargs)


def _check_range(name: str, rng: tuple[float, float], lo: float, hi: float) -> None:
    if len(rng) != 2 or not lo <= rng[0] <= rng[1] <= hi:
        raise ConfigError(f"FindingsConfig.{name} must be (min, max) with {lo} <= min <= max <= {hi}, got {rng}")


def record_to_json(record: PhantomRecord) -> dict[str, Any]:
    """Return the findings.json entry of one image (floats rounded to 4 decimals)."""
    return {
        "seed": record.seed,
        "view": record.view,
        "laterality": record.laterality,
        "chest_wall_side": record.chest_wall_side,
        "density": round(record.density, 4),
        "calcifications": [_rounded(dataclasses.asdict(c)) for c in record.calcifications],
        "markers": [_rounded(dataclasses.asdict(m)) for m in record.markers],
        "texts": [dataclasses.asdict(t) for t in record.texts],
    }


def record_from_json(raw: dict[str, Any]) -> PhantomRecord:
    """Return the record of one findings.json entry.

    Raises:
        KeyError, TypeError, ValueError: the entry is malformed (the reader turns these into a
            one-line BadInputError naming the file).
    """
    return PhantomRecord(
        seed=int(raw["seed"]),
        view=str(raw["view"]),
        laterality=str(raw["laterality"]),
        chest_wall_side=str(raw.get("chest_wall_side", "left")),
        density=float(raw["density"]),
        calcifications=tuple(Calcification(**c) for c in raw["calcifications"]),
        markers=tuple(SkinMarker(**m) for m in raw["markers"]),
        texts=tuple(TextBox(**t) for t in raw["texts"]),
    )


def truth_to_record(truth: PhantomTruth, seed: int) -> PhantomRecord:
    """Return the mask-free record of a rendered phantom's truth."""
    return PhantomRecord(
        seed=seed,
        view=truth.view,
        laterality=truth.laterality,
        chest_wall_side=truth.chest_wall_side,
        density=truth.density,
        calcifications=truth.calcifications,
        markers=truth.markers,
        texts=truth.texts,
    )


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
