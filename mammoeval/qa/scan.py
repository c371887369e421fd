"""Run every QA check over one image or a whole image set; one table row per image, one set summary.

`check_image` is a pure function of a numpy image (+ optional view); `scan_image_set` streams an
`ImageSet` with bounded memory; `write_qa` writes qa.csv (one row per image) and qa.json (the
summary) atomically; `compare_scans` compares a real and a generated scan.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.core.imageops import reduce_to_height
from mammoeval.core.pool import WorkerPool, ordered_map
from mammoeval.core.progress import progress_bar
from mammoeval.core.views import label_to_view
from mammoeval.data.folder import list_image_files
from mammoeval.data.labels import labels_from_name
from mammoeval.data.open import open_image_set
from mammoeval.data.prepared import is_prepared_dataset
from mammoeval.data.readers import read_image
from mammoeval.qa.anatomy import Anatomy, compute_anatomy, flatten_background
from mammoeval.qa.calcifications import Calc, CalcConfig, detect_calcifications, wasserstein_1
from mammoeval.qa.calibration import (
    DEFAULT_FP_RATE,
    MIN_IMAGES,
    Calibration,
    CalibrationWarning,
    RealScores,
    calibrate,
    calibration_cache_key,
    calibration_cache_path,
    load_cached_calibration,
    shipped_defaults,
    write_calibration,
)
from mammoeval.qa.detectors import DETECTORS, REGISTRY, Finding
from mammoeval.qa.detectors.outline import compute_outline_features, outline_score
from mammoeval.qa.ranking import compute_quality_score
from mammoeval.qa.view import compute_view_agreement, predict_view

QA_CSV = "qa.csv"
QA_JSON = "qa.json"
SUMMARY_VIEWS = ("CC", "MLO", "unknown", "all")


@dataclass(frozen=True)
class QAConfig:
    """Settings of the per-image checks.

    Attributes:
        max_height: working resolution: larger inputs are box-reduced by an integer factor to at
            most this height (calcification sizes are measured at this resolution).
        calcs: calcification detector settings.
    """

    max_height: int = 1280
    calcs: CalcConfig = field(default_factory=CalcConfig)


@dataclass(frozen=True)
class ImageQA:
    """QA of one image: one row of qa.csv.

    Attributes:
        id: image identifier.
        view: given view ("CC", "MLO" or "unknown").
        predicted_view: view predicted from the anatomy ("CC", "MLO" or "unknown").
        chest_wall_side: "left" or "right" in the input image.
        breast_area_fraction, n_components, n_holes, skin_smoothness: breast outline measures.
        pectoral_present, pectoral_area, pectoral_angle_deg: pectoral muscle (area as a fraction
            of the breast; angle of its boundary from vertical).
        scores: detector name -> score (every detector in `DETECTORS`).
        flags: detector name -> flagged (score >= the threshold of `calibration`).
        n_calcs: calcifications found; calc_sizes_px, calc_contrasts: one entry per calcification.
        n_clusters: clusters of >= 3 calcifications.
        quality_score: in [0, 1], higher = better (see ranking.py).
        reasons: "; "-joined short texts of what was flagged.
        background_level: grey level of the background (the uniform level outside the breast).
        background_not_black: the background is a uniform non-black grey (a finding of its own,
            not an artifact flag: some vendors and generators offset it).
        calibration: id of the calibration the flags were judged with ("defaults" = shipped thresholds).
        calibration_note: why shipped thresholds were used for this image's view ("" otherwise).
        working_rows: rows of the image at the QA working resolution.
        outline_features: the outline detector's features (None without a skin line).
        details: detector name -> what it would report if flagged (kept for re-judging).
    """

    id: str
    view: str
    predicted_view: str
    chest_wall_side: str
    breast_area_fraction: float
    n_components: int
    n_holes: int
    skin_smoothness: float
    pectoral_present: bool
    pectoral_area: float
    pectoral_angle_deg: float
    scores: dict[str, float]
    flags: dict[str, bool]
    n_calcs: int
    calc_sizes_px: tuple[float, ...]
    calc_contrasts: tuple[float, ...]
    n_clusters: int
    quality_score: float
    reasons: str
    background_level: float = 0.0
    background_not_black: bool = False
    calibration: str = "defaults"
    calibration_note: str = ""
    working_rows: int = 0
    outline_features: dict[str, float] | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def any_artifact(self) -> bool:
        """Whether any detector flagged the image."""
        return any(self.flags.values())

    def flag(self, name: str) -> bool:
        """Return the flag of detector `name`."""
        return self.flags[name]

    def to_row(self) -> dict[str, float | int | str | bool]:
        """Return the qa.csv row: scalars only, detector columns score_<name> and flag_<name>."""
        row: dict[str, float | int | str | bool] = {
            "id": self.id, "view": self.view, "predicted_view": self.predicted_view,
            "chest_wall_side": self.chest_wall_side,
            "breast_area_fraction": round(self.breast_area_fraction, 5), "n_components": self.n_components,
            "n_holes": self.n_holes, "skin_smoothness": round(self.skin_smoothness, 5),
            "pectoral_present": self.pectoral_present, "pectoral_area": round(self.pectoral_area, 5),
            "pectoral_angle_deg": round(self.pectoral_angle_deg, 2),
            "background_level": round(self.background_level, 4), "background_not_black": self.background_not_black,
        }
        for name in DETECTORS:
            row[f"score_{name}"] = round(self.scores.get(name, 0.0), 5)
            row[f"flag_{name}"] = self.flags.get(name, False)
        sizes, contrasts = np.asarray(self.calc_sizes_px), np.asarray(self.calc_contrasts)
        row.update({
            "any_artifact": self.any_artifact, "n_calcs": self.n_calcs,
            "calc_size_mean_px": round(float(sizes.mean()), 4) if sizes.size else 0.0,
            "calc_size_max_px": round(float(sizes.max()), 4) if sizes.size else 0.0,
            "calc_contrast_mean": round(float(contrasts.mean()), 5) if contrasts.size else 0.0,
            "calc_contrast_max": round(float(contrasts.max()), 5) if contrasts.size else 0.0,
            "n_clusters": self.n_clusters, "quality_score": round(self.quality_score, 5),
            "reasons": self.reasons, "calibration": self.calibration, "calibration_note": self.calibration_note,
        })
        return row

    def judged(self, calibration: Calibration) -> ImageQA:
        """Return this row with its flags, reasons and quality judged against `calibration`'s thresholds
        for its view (the outline score is recomputed against the calibration's real outlines)."""
        vc = calibration.for_view(self.view)
        scores = dict(self.scores)
        if "outline" in scores and not self.flags.get("broken", False):
            scores["outline"] = outline_score(self.outline_features, vc.outline_reference)
        findings = [Finding(n, scores[n], vc.thresholds.get(n, 1.0), scores[n] >= vc.thresholds.get(n, 1.0),
                            detail=self.details.get(n, ""), calibrated=vc.calibrated and n in vc.thresholds)
                    for n in DETECTORS if n in scores]
        flags = {f.name: f.flag for f in findings}
        agrees = None if self.view == "unknown" or self.predicted_view == "unknown" else self.view == self.predicted_view
        note = "" if vc.calibrated else _fallback_note(calibration, self.view)
        return replace(self, scores=scores, flags=flags,
                       quality_score=compute_quality_score(findings, view_agrees=agrees),
                       reasons="; ".join(f"{f.name}: {f.detail}" for f in findings if f.flag),
                       calibration=calibration.id, calibration_note=note)


def _fallback_note(calibration: Calibration, view: str) -> str:
    """Return the note of a row of `view` judged with shipped thresholds under `calibration`."""
    key = view if view in ("CC", "MLO") else "all"
    for w in calibration.warnings:
        if f"({key} " in w or f", {key} " in w:
            return w
    return "" if calibration.id == "defaults" else f"shipped default thresholds for {key} images"


@dataclass(frozen=True)
class ImageDetails:
    """What the report shows for one image beyond its row.

    Attributes:
        heatmaps: detector name -> float32 [h, w] coarse map (chest wall left), larger = worse.
        calcs: calcification detections (working-resolution pixels, chest wall left).
        coarse: float32 [h, w] coarse image (chest wall left), for overlays.
        breast_mask: bool [h, w] breast mask on the coarse image.
        working_factor: reduction from the input to the working resolution.
        coarse_factor: reduction from the working resolution to the coarse image.
    """

    heatmaps: dict[str, np.ndarray]
    calcs: tuple[Calc, ...]
    coarse: np.ndarray
    breast_mask: np.ndarray
    working_factor: int
    coarse_factor: int



def check_image(image: np.ndarray, *, view: str | None = None, image_id: str = "",
                config: QAConfig = QAConfig(), calibration: Calibration | None = None) -> tuple[ImageQA, ImageDetails]:
    """Return the QA row and the details of one image; never raises on broken pixels.

    A pure function of its arguments (a process pool can map it over images): every detector of
    `REGISTRY` scores the image, and the flags are judged against `calibration`'s thresholds for the
    view (None = the shipped defaults).

    Args:
        image: float [H, W] or [1, H, W], values in [0, 1] (NaN/inf/constant images are flagged
            as broken); background black or a uniform grey; either chest-wall side.
        view: given view ("CC"/"MLO"), None or anything else = unknown.
        image_id: identifier for the row.
        config: working resolution and calcification settings.
        calibration: detector thresholds; None = `shipped_defaults()`.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(f"expected a grey image [H, W] or [1, H, W], got shape {img.shape}")
    given = view.upper() if view and view.upper() in ("CC", "MLO") else "unknown"
    cal = calibration if calibration is not None else shipped_defaults(max_height=config.max_height)
    broken = REGISTRY["broken"].score(img, None)
    if broken.flag:
        row, det = _broken_result(img, given, image_id, broken)
        return row.judged(cal), det
    work, wf = reduce_to_height(img, config.max_height)
    work, offset = flatten_background(work)
    anatomy = compute_anatomy(work, background_offset=offset)
    if anatomy.chest_wall_side == "right":
        work = np.ascontiguousarray(work[:, ::-1])
    findings = [broken] + [d.score(work, anatomy) for n, d in REGISTRY.items() if n != "broken"]
    calcs = detect_calcifications(work, anatomy, config=config.calcs)
    predicted = predict_view(anatomy)
    row = _row(image_id, given, predicted, anatomy, findings, calcs, work.shape[0])
    heat: dict[str, np.ndarray] = {f.name: f.heatmap for f in findings if f.heatmap is not None}
    return row.judged(cal), ImageDetails(heat, tuple(calcs), anatomy.coarse, anatomy.mask, wf, anatomy.factor)


def _row(image_id: str, given: str, predicted: str, anatomy: Anatomy, findings: Sequence[Finding],
         calcs: Sequence[Calc], working_rows: int) -> ImageQA:
    """Return the ImageQA of a checked (not broken) image at the default thresholds."""
    agrees = None if given == "unknown" else given == predicted
    return ImageQA(
        id=image_id, view=given, predicted_view=predicted, chest_wall_side=anatomy.chest_wall_side,
        breast_area_fraction=anatomy.area_fraction, n_components=anatomy.n_components,
        n_holes=anatomy.n_holes, skin_smoothness=anatomy.skin_smoothness,
        pectoral_present=anatomy.pectoral_present, pectoral_area=anatomy.pectoral_area_fraction,
        pectoral_angle_deg=anatomy.pectoral_angle_deg,
        scores={f.name: f.score for f in findings}, flags={f.name: f.flag for f in findings},
        n_calcs=len(calcs), calc_sizes_px=tuple(round(c.diameter_px, 3) for c in calcs),
        calc_contrasts=tuple(round(c.contrast, 4) for c in calcs),
        n_clusters=len({c.cluster for c in calcs if c.cluster >= 0}),
        quality_score=compute_quality_score(findings, view_agrees=agrees),
        reasons="; ".join(f"{f.name}: {f.reason}" for f in findings if f.flag),
        background_level=anatomy.background_offset, background_not_black=anatomy.background_not_black,
        working_rows=working_rows, outline_features=compute_outline_features(anatomy.mask),
        details={f.name: f.detail for f in findings},
    )


def _broken_result(img: np.ndarray, given: str, image_id: str, broken: Finding) -> tuple[ImageQA, ImageDetails]:
    """Return the row and details of a broken image: only the broken detector scores."""
    scores = {d: broken.score if d == "broken" else 0.0 for d in DETECTORS}
    flags = {d: d == "broken" for d in DETECTORS}
    row = ImageQA(image_id, given, "unknown", "left", 0.0, 0, 0, 0.0, False, 0.0, 0.0, scores, flags,
                  0, (), (), 0, 0.0, f"broken: {broken.reason}", details={"broken": broken.detail})
    shape = reduce_to_height(np.nan_to_num(img), 256)[0].shape
    empty = np.zeros(shape, np.float32)
    return row, ImageDetails({}, (), empty, empty.astype(bool), 1, 1)


@dataclass
class QAScan:
    """The QA rows of an image set, and details of the worst images when asked for.

    Attributes:
        rows: one ImageQA per image, in set order.
        details: id -> ImageDetails for at most `keep_details` images (lowest quality).
        name: set name.
        calibration: the calibration the rows' flags were judged with (None = shipped defaults).
    """

    rows: list[ImageQA]
    details: dict[str, ImageDetails] = field(default_factory=dict)
    name: str = ""
    calibration: Calibration | None = None
    _fitted: dict[str, Calibration] = field(default_factory=dict, repr=False)

    def judged(self, calibration: Calibration) -> QAScan:
        """Return the scan with every row judged against `calibration` (scores are not recomputed)."""
        return QAScan([r.judged(calibration) for r in self.rows], self.details, self.name, calibration)

    def content_hash(self) -> str:
        """Return a hash of the rows' ids, views, scores and outline features (what a calibration is fitted on)."""
        body = [[r.id, r.view, r.working_rows, {k: round(v, 6) for k, v in sorted(r.scores.items())},
                 None if r.outline_features is None else {k: round(v, 6) for k, v in sorted(r.outline_features.items())}]
                for r in self.rows]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]

    def fit_calibration(self, *, fp_rate: float | None = None, max_height: int = 1280,
                        cache_dir: str | Path | None = None, **kwargs: Any) -> Calibration:
        """Return the calibration fitted on this scan's clean (not broken) rows, cached by content hash.

        The cache key (`calibration_cache_key`) hashes the rows' content (`content_hash`), the rate,
        the working height, `kwargs` and the calibration version. It is kept in memory, and with
        `cache_dir` also on disk (`calibration_cache_path`, written atomically): a later process
        scoring the same real set loads it instead of fitting again; changed real content misses it.

        Args:
            fp_rate: share of clean images flagged by some detector aimed at (None = DEFAULT_FP_RATE).
            max_height: QA working height of the rows (recorded).
            cache_dir: folder of the on-disk cache (None = memory only).
            kwargs: passed to `mammoeval.qa.calibration.calibrate` (min_images, per_view).
        """
        rate = DEFAULT_FP_RATE if fp_rate is None else fp_rate
        key = calibration_cache_key(self.content_hash(), fp_rate=rate, max_height=max_height, options=kwargs)
        if key in self._fitted:
            return self._fitted[key]
        path = calibration_cache_path(cache_dir, self.name, key) if cache_dir is not None else None
        cal = load_cached_calibration(path) if path is not None else None
        for line in cal.warnings if cal is not None else ():
            warnings.warn(line, CalibrationWarning, stacklevel=2)  # as when it was fitted
        if cal is None:
            reals = [RealScores(r.id, r.view, r.scores, r.outline_features, r.working_rows)
                     for r in self.rows if not r.flags.get("broken", False)]
            cal = calibrate(reals, fp_rate=rate, max_height=max_height, source=self.name or "real set", **kwargs)
            if path is not None:
                write_calibration(cal, path)
        self._fitted[key] = cal
        return cal

    def summary(self) -> dict[str, Any]:
        """Return the set summary (the content of qa.json).

        Keys: "name", "n_images", "detectors", "views": {CC, MLO, unknown, all: view summary},
        "view_agreement": {CC, MLO, all: share or null}. A view summary holds "n",
        "artifact_rate" {detector: share flagged, "any": share with any flag}, "quality_mean",
        "calcs": {"share_with_calcs", "count_mean", "clusters_mean", "count_quantiles",
        "size_quantiles_px", "contrast_quantiles"} (quantiles at 0.1, 0.25, 0.5, 0.75, 0.9; null when
        there is no data).
        """
        out: dict[str, Any] = {"name": self.name, "n_images": len(self.rows), "detectors": list(DETECTORS),
                               "views": {}}
        for v in SUMMARY_VIEWS:
            out["views"][v] = _view_summary([r for r in self.rows if v == "all" or r.view == v])
        out["view_agreement"] = compute_view_agreement((r.view, r.predicted_view) for r in self.rows)
        out["background_not_black"] = float(np.mean([r.background_not_black for r in self.rows])) if self.rows else None
        cal = self.calibration if self.calibration is not None else shipped_defaults()
        out["calibration"] = cal.summary()
        return out


_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _quantiles(values: Sequence[float]) -> list[float] | None:
    """Return the _QUANTILES of values (None when empty)."""
    return [round(float(q), 5) for q in np.quantile(values, _QUANTILES)] if len(values) else None


def _view_summary(rows: Sequence[ImageQA]) -> dict[str, Any]:
    """Return the summary of the rows of one view (see QAScan.summary)."""
    n = len(rows)
    if n == 0:
        return {"n": 0, "artifact_rate": None, "quality_mean": None, "calcs": None}
    rates: dict[str, float] = {d: float(np.mean([r.flags.get(d, False) for r in rows])) for d in DETECTORS}
    rates["any"] = float(np.mean([r.any_artifact for r in rows]))
    sizes = [s for r in rows for s in r.calc_sizes_px]
    contrasts = [c for r in rows for c in r.calc_contrasts]
    counts = [r.n_calcs for r in rows]
    return {
        "n": n, "artifact_rate": rates, "quality_mean": float(np.mean([r.quality_score for r in rows])),
        "calcs": {
            "share_with_calcs": float(np.mean([c > 0 for c in counts])), "count_mean": float(np.mean(counts)),
            "clusters_mean": float(np.mean([r.n_clusters for r in rows])),
            "count_quantiles": _quantiles(counts), "size_quantiles_px": _quantiles(sizes),
            "contrast_quantiles": _quantiles(contrasts),
        },
    }


def qa_rows_key(config: QAConfig = QAConfig()) -> str:
    """Return the `ImageBatch.precomputed` key of the QA rows checked with `config` ("qa/<hash of config>")."""
    return "qa/" + hashlib.sha256(repr(config).encode()).hexdigest()[:16]


def scan_image_set(images: Any, *, progress: bool = True, keep_details: int = 0, batch_size: int = 8,
                   config: QAConfig = QAConfig(), calibration: Calibration | None = None, workers: int = 1,
                   pool: WorkerPool | None = None) -> QAScan:
    """Return the QA scan of an image set, streaming it batch by batch.

    A batch that carries its rows (`ImageBatch.precomputed[qa_rows_key(config)]`, one `ImageQA`
    per image from `check_image` with this config, e.g. computed by another torchrun rank) is not
    checked again, unless `keep_details` asks for details.

    Args:
        images: an `ImageSet` (mammoeval.data.imageset).
        progress: show a rich progress bar.
        keep_details: keep ImageDetails for at most this many images, the lowest-quality ones.
        batch_size: images decoded at a time (bounds memory).
        config: per-image check settings.
        calibration: thresholds the flags are judged with; None = shipped defaults.
        workers: processes that check the images (1 = this process; see `mammoeval.core.pool`).
        pool: an open `WorkerPool` to use instead of starting `workers` processes.

    The rows are the same whatever `workers` and `pool`: each image is checked by `check_image` alone.
    """
    name = getattr(images, "name", "")
    acc = _Accumulator(keep_details)
    key = qa_rows_key(config)

    def jobs() -> Iterator[_Job]:
        for batch in images.iter_batches(batch_size):
            shipped = getattr(batch, "precomputed", {}).get(key)
            if shipped is not None and keep_details == 0:
                yield from ((None, "", "", config, False, row) for row in shipped)
                continue
            arr = batch.images.detach().cpu().numpy()
            for k in range(arr.shape[0]):
                yield arr[k, 0], label_to_view(int(batch.views[k])), batch.ids[k], config, keep_details > 0, None

    with progress_bar(f"QA {name}", total=len(images), enabled=progress, transient=True) as bar:
        for row, details in ordered_map(_check_job, jobs(), workers=workers, pool=pool):
            acc.add(row, details)
            bar.advance(1)
    scan = acc.scan(name)
    return scan if calibration is None else scan.judged(calibration)


_Job = tuple[Any, str, str, QAConfig, bool, "ImageQA | None"]
"""(pixels [H, W] or an image file path, view, id, config, keep details, row already computed or None)."""


def _check_job(job: _Job) -> tuple[ImageQA, ImageDetails | None]:
    """Return the row (and details when asked) of one image: a pure function, run in a worker process or here."""
    pixels, view, image_id, config, keep, row = job
    if row is not None:
        return row, None
    if isinstance(pixels, (str, Path)):
        pixels = read_image(pixels).pixels
    row, details = check_image(pixels, view=view or None, image_id=image_id, config=config)
    return row, details if keep else None


def scan_folder(path: str | Path, *, progress: bool = True, keep_details: int = 0,
                config: QAConfig = QAConfig(), calibration: Calibration | None = None, workers: int = 1,
                pool: WorkerPool | None = None) -> QAScan:
    """Return the QA scan of a plain folder of mammograms, each checked at its own size.

    Unlike `scan_image_set` over a `FolderImageSet`, the images need not share one size (real
    mammograms from several sources rarely do); `check_image` reduces each to the working height.
    Ids are the paths relative to the folder without suffix, views come from the file names.
    `workers` / `pool`: as in `scan_image_set` (each worker reads its own files).

    Raises:
        BadInputError: the folder is missing or holds no image, or a file cannot be decoded.
    """
    root = Path(path)
    if not root.is_dir():
        raise BadInputError(root, "not a folder of images")
    files = list_image_files(root)
    if not files:
        raise BadInputError(root, "no images found")
    acc = _Accumulator(keep_details)
    jobs = ((str(root / rel), labels_from_name(rel)[0] or "", str(Path(rel).with_suffix("")), config,
             keep_details > 0, None) for rel in files)
    with progress_bar(f"QA {root.name}", total=len(files), enabled=progress, transient=True) as bar:
        for row, details in ordered_map(_check_job, jobs, workers=workers, pool=pool):
            acc.add(row, details)
            bar.advance(1)
    scan = acc.scan(root.name)
    return scan if calibration is None else scan.judged(calibration)


class _Accumulator:
    """Collects QA rows in order and the details of the `keep` lowest-quality images (a bounded heap)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.rows: list[ImageQA] = []
        self._worst: list[tuple[float, int, str, ImageDetails]] = []

    def add(self, row: ImageQA, details: ImageDetails | None) -> None:
        """Append a row; keep its details (when given) while it is among the `keep` worst so far."""
        self.rows.append(row)
        if self.keep > 0 and details is not None:
            item = (-row.quality_score, len(self.rows), row.id, details)
            if len(self._worst) < self.keep:
                heapq.heappush(self._worst, item)
            else:
                heapq.heappushpop(self._worst, item)

    def scan(self, name: str) -> QAScan:
        """Return the QAScan of everything added, details worst first."""
        details = {rid: det for _, _, rid, det in sorted(self._worst, key=lambda t: t[0], reverse=True)}
        return QAScan(self.rows, details, name=name)



def compare_scans(real: QAScan, fake: QAScan, *, calibration: Calibration | None = None,
                  cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Return real-vs-generated QA statistics per view (CC, MLO, all), both judged with one calibration.

    The calibration is `calibration`, else the one fitted on the real scan's own clean rows
    (`QAScan.fit_calibration`, cached by content hash, on disk in `cache_dir` when given; views with
    too few real images use the shipped defaults and say so). Besides the views, "calibration" holds its summary (id, source, per view
    n and whether calibrated, warnings, and the real images extreme among their own set as
    "data_quality" findings) and "background_not_black" {"real", "fake"} the share of images whose
    background is a uniform non-black grey.

    Per view: "n_real", "n_fake"; "artifact_rate": {detector and "any": {"real", "fake"}};
    "calc_share": {"real", "fake"} (share of images with any calcification); "w1": Wasserstein-1
    distances of the per-image calcification "count" and of the per-calcification "size_px" and
    "contrast" distributions (null when a side has no data); "view_agreement": {"real", "fake"}.
    """
    cal = calibration if calibration is not None else real.fit_calibration(cache_dir=cache_dir)
    real, fake = real.judged(cal), fake.judged(cal)
    out: dict[str, Any] = {}
    for v in ("CC", "MLO", "all"):
        r = [x for x in real.rows if v == "all" or x.view == v]
        f = [x for x in fake.rows if v == "all" or x.view == v]
        rs, fs = _view_summary(r), _view_summary(f)
        rates = None
        if r and f:
            rates = {d: {"real": rs["artifact_rate"][d], "fake": fs["artifact_rate"][d]}
                     for d in (*DETECTORS, "any")}
        out[v] = {
            "n_real": len(r), "n_fake": len(f), "artifact_rate": rates,
            "calc_share": {"real": rs["calcs"]["share_with_calcs"] if r else None,
                           "fake": fs["calcs"]["share_with_calcs"] if f else None},
            "w1": {
                "count": wasserstein_1([x.n_calcs for x in r], [x.n_calcs for x in f]),
                "size_px": wasserstein_1([s for x in r for s in x.calc_sizes_px], [s for x in f for s in x.calc_sizes_px]),
                "contrast": wasserstein_1([s for x in r for s in x.calc_contrasts],
                                          [s for x in f for s in x.calc_contrasts]),
            },
            "view_agreement": {
                "real": compute_view_agreement((x.view, x.predicted_view) for x in r)["all"],
                "fake": compute_view_agreement((x.view, x.predicted_view) for x in f)["all"],
            },
        }
    out["calibration"] = cal.summary()
    out["background_not_black"] = {"real": real.summary()["background_not_black"],
                                   "fake": fake.summary()["background_not_black"]}
    return out


def write_qa(scan: QAScan, out_dir: str | Path) -> None:
    """Write qa.csv (one row per image, columns of ImageQA.to_row) and qa.json (scan.summary()) atomically."""
    out = Path(out_dir)
    buf = io.StringIO()
    rows = [r.to_row() for r in scan.rows]
    columns = list(rows[0]) if rows else list(_empty_columns())
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / QA_CSV, buf.getvalue())
    write_json_atomic(out / QA_JSON, scan.summary())


def _empty_columns() -> dict[str, Any]:
    """Return the qa.csv columns (from a dummy row) for an empty scan."""
    dummy = ImageQA("", "", "", "", 0.0, 0, 0, 0.0, False, 0.0, 0.0, {d: 0.0 for d in DETECTORS},
                    {d: False for d in DETECTORS}, 0, (), (), 0, 0.0, "")
    return dummy.to_row()


def read_qa_csv(path: str | Path) -> list[dict[str, str]]:
    """Return the rows of a qa.csv file as dicts of strings.

    Raises:
        BadInputError: the file is missing or has no header.
    """
    p = Path(path)
    if not p.is_file():
        raise BadInputError(p, "no such qa.csv file")
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise BadInputError(p, "not a qa.csv file (no 'id' column)")
        return list(reader)


def scan_path(path: str | Path, *, progress: bool = True, config: QAConfig = QAConfig(),
              calibration: Calibration | None = None, workers: int = 1) -> QAScan:
    """Return the QA scan of a prepared dataset (`scan_image_set`) or a plain folder (`scan_folder`),
    checked by `workers` processes.

    Raises:
        BadInputError: the path is neither, or holds no image, or a file cannot be decoded.
    """
    if is_prepared_dataset(Path(path)):
        return scan_image_set(open_image_set(Path(path)), progress=progress, config=config, calibration=calibration,
                              workers=workers)
    return scan_folder(path, progress=progress, config=config, calibration=calibration, workers=workers)


def calibrate_path(real: str | Path, *, fp_rate: float | None = None, progress: bool = True,
                   config: QAConfig = QAConfig(), min_images: int | None = None) -> Calibration:
    """Return the calibration fitted on the clean real images at `real` (prepared dataset or folder).

    Args:
        real: the real images, at the size QA will see the generated ones (scores are measured at
            the working resolution `config.max_height`).
        fp_rate: share of clean images each detector flags (None = DEFAULT_FP_RATE).
        progress: show a progress bar.
        config: QA settings (working resolution).
        min_images: fewest images of a view fitted (None = MIN_IMAGES).

    Raises:
        BadInputError: see `scan_path`.
    """
    scan = scan_path(real, progress=progress, config=config)
    return scan.fit_calibration(fp_rate=fp_rate, max_height=config.max_height,
                                min_images=MIN_IMAGES if min_images is None else min_images)
