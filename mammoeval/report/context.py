"""The plain data a report shows (`ReportData` and its parts) and the interfaces it is gathered through.

`mammoeval.report.gather` fills these from a run directory or a pair of folders; `html` renders them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from mammoeval.core.seeding import check_seed
from mammoeval.core.views import label_to_view

Role = Literal["fake", "real", "train"]


@dataclass(frozen=True)
class ReportOptions:
    """How many images each gallery shows, and the seeds that pick them.

    Attributes:
        n_grid: generated images per view in the large random grid (the paper's 6x5 figure).
        grid_cols: columns of that grid.
        n_pairs: rows of the real-vs-generated figure (the paper's 5x2): generated and real per view.
        n_gallery: best and worst generated images shown per view (each).
        n_artifacts: most flagged generated images shown in the artifact gallery per view.
        n_nn_pairs: nearest-neighbour pairs shown per view (closest first).
        n_real_stats: real images per view checked by QA for the statistics section.
        n_msssim_pairs: random pairs per set for the MS-SSIM diversity distributions.
        seed: first generation seed (image i of a view uses seed + i) and seed of every random pick.
        batch_size: generation batch size.
        device: torch device for generation.
    """

    n_grid: int = 30
    grid_cols: int = 6
    n_pairs: int = 5
    n_gallery: int = 4
    n_artifacts: int = 6
    n_nn_pairs: int = 4
    n_real_stats: int = 30
    n_msssim_pairs: int = 24
    seed: int = 0
    batch_size: int = 16
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_seed(self.seed)


@dataclass(frozen=True)
class Tile:
    """One image shown in the report.

    Attributes:
        id: image id (generated: ``<view>-seed<N>``; real: manifest id or file stem).
        view: "CC", "MLO" or "unknown".
        role: "fake" (generated), "real" (reference set) or "train" (memorization neighbour).
        image: float32 [H, W] in [0, 1], full resolution.
        caption: short text under the thumbnail.
        heatmap: optional float [h, w] >= 0 drawn over the image (artifact gallery).
    """

    id: str
    view: str
    role: Role
    image: np.ndarray
    caption: str = ""
    heatmap: np.ndarray | None = None


@dataclass(frozen=True)
class QAEntry:
    """A generated image with its QA verdict (best/worst/artifact galleries)."""

    tile: Tile
    quality_score: float
    reasons: str


@dataclass(frozen=True)
class NNPair:
    """A generated image beside its closest training image (memorization check)."""

    fake_id: str
    train_id: str
    distance: float
    space: str
    flagged: bool
    fake: Tile | None
    train: Tile | None


@dataclass(frozen=True)
class ViewAnalysis:
    """Galleries and statistics of one view (what `mammoeval.report.analysis.analyse_view` computes)."""

    best: list[QAEntry] = field(default_factory=list)
    worst: list[QAEntry] = field(default_factory=list)
    artifacts: list[QAEntry] = field(default_factory=list)
    qa_fake: list[dict[str, Any]] = field(default_factory=list)
    qa_real: list[dict[str, Any]] = field(default_factory=list)
    calc_fake: dict[str, list[float]] = field(default_factory=dict)
    calc_real: dict[str, list[float]] = field(default_factory=dict)
    msssim_fake: list[float] = field(default_factory=list)
    msssim_real: list[float] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    """The QA calibration the flags were judged with (`analysis.calibration_context`): id, source,
    fp_rate, origin, whether this view's thresholds were fitted and on how many real images,
    warnings, and the data-quality findings among this view's real images."""


@dataclass(frozen=True, kw_only=True)
class ViewSection(ViewAnalysis):
    """What the per-view section and the statistics show for one view: its analysis plus the tiles."""

    view: str
    fakes: list[Tile]
    reals: list[Tile]
    nn_pairs: list[NNPair] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """One snapshot grid of the training timeline."""

    kimg: float
    path: Path


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML report renders; built by `gather_run` or `gather_folders`."""

    title: str
    mode: Literal["run", "folders"]
    source: str
    config: dict[str, Any]
    log: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    selected: dict[str, Any] | None
    best: dict[str, Any] | None
    gate: dict[str, Any] | None
    snapshots: list[Snapshot]
    reals_grid: Path | None
    views: list[ViewSection]
    provenance: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)
    grid_cols: int = 6
    exports: list[dict[str, Any]] = field(default_factory=list)
    study: dict[str, Any] | None = None


class GeneratorLike(Protocol):
    """What the report needs of `mammoeval_train.generate.LoadedGenerator`."""

    n_images_shown: int
    resolution: tuple[int, int]

    def generate(self, seeds: Sequence[int], views: torch.Tensor, *, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> torch.Tensor: ...


GeneratorLoader = Callable[[Path], GeneratorLike]
class CheckedImage(Protocol):
    """What the report reads of a per-image QA row (`mammoeval.qa.scan.ImageQA`)."""

    @property
    def id(self) -> str: ...

    @property
    def quality_score(self) -> float: ...

    @property
    def any_artifact(self) -> bool: ...

    @property
    def reasons(self) -> str: ...

    @property
    def n_calcs(self) -> int: ...

    def to_row(self) -> Mapping[str, Any]: ...


class DetectedCalc(Protocol):
    """What the report reads of one detected calcification (`mammoeval.qa.calcifications.Calc`)."""

    @property
    def diameter_px(self) -> float: ...

    @property
    def contrast(self) -> float: ...


class CheckDetails(Protocol):
    """What the report reads of a per-image QA result's details (`mammoeval.qa.scan.ImageDetails`)."""

    @property
    def heatmaps(self) -> Mapping[str, np.ndarray]: ...

    @property
    def calcs(self) -> Sequence[DetectedCalc]: ...


ImageChecker = Callable[..., tuple[CheckedImage, CheckDetails]]
"""Per-image QA: ``check(image, view=..., image_id=...) -> (row, details)`` (`mammoeval.qa.scan.check_image`)."""


def view_of_label(label: int) -> str:
    """Return "CC", "MLO" or "unknown" for a view label."""
    return label_to_view(int(label))
