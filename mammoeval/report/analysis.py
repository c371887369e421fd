"""Per-view analysis of the report's images: QA galleries, calcification and diversity statistics.

QA comes from `mammoeval.qa.scan.check_image` (one pure function per image; callers may pass
another `ImageChecker`); MS-SSIM of image pairs from `mammoeval.metrics.msssim.ms_ssim`. Flags are
judged with one calibration for both sets: the one the scorer recorded for the run when given, else
one fitted on the report's own real rows (`QAScan.fit_calibration`; too few reals of a view: the
shipped defaults, which the report then says).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from mammoeval.core.progress import track
from mammoeval.core.seeding import Stream, numpy_rng
from mammoeval.metrics.msssim import ms_ssim
from mammoeval.qa.calibration import Calibration, CalibrationWarning
from mammoeval.qa.scan import ImageQA, QAScan
from mammoeval.qa.scan import check_image as default_check_image
from mammoeval.report.context import (
    CheckDetails,
    CheckedImage,
    ImageChecker,
    QAEntry,
    ReportOptions,
    Tile,
    ViewAnalysis,
)

Checked = tuple[Tile, CheckedImage, CheckDetails]

TISSUE_THRESHOLD = 0.04
"""Grey level above which a pixel counts as tissue for the density proxy (background is 0)."""


def analyse_view(view: str, fakes: Sequence[Tile], reals: Sequence[Tile], options: ReportOptions, *,
                 check_image: ImageChecker | None = None, progress: bool = False,
                 calibration: Calibration | None = None) -> ViewAnalysis:
    """Return the QA galleries and real-vs-generated statistics of one view's tiles.

    Args:
        calibration: the detector thresholds the flags of both sets are judged with (the run's
            recorded calibration); None = fitted on this view's real rows.
    """
    checker: ImageChecker = check_image or default_check_image  # type: ignore[assignment]
    notes: dict[str, str] = {}
    if not fakes:
        notes["fakes"] = "no generated images for this view"
    checked_f = _check_all(checker, fakes, progress=progress, label=f"QA {view} generated")
    checked_r = _check_all(checker, reals, progress=progress, label=f"QA {view} real")
    origin = "recorded by the scorer for this run"
    if calibration is None:
        calibration, origin = fit_on_rows([qa for _, qa, _ in checked_r]), "fitted on this report's real images"
    checked_f, checked_r = _judged(checked_f, calibration), _judged(checked_r, calibration)
    best, worst, artifacts = _galleries(checked_f, options)
    if checked_f and not artifacts:
        notes["artifacts"] = "no generated image of this view was flagged by any artifact detector"
    ms_f, ms_r, ms_note = _msssim_pairs(fakes, reals, options)
    if ms_note:
        notes["msssim"] = ms_note
    return ViewAnalysis(
        best=best, worst=worst, artifacts=artifacts,
        qa_fake=[_row(t, qa) for t, qa, _ in checked_f] or [_row(t, None) for t in fakes],
        qa_real=[_row(t, qa) for t, qa, _ in checked_r] or [_row(t, None) for t in reals],
        calc_fake=_calc_stats(checked_f), calc_real=_calc_stats(checked_r),
        msssim_fake=ms_f, msssim_real=ms_r, notes=notes,
        calibration=calibration_context(calibration, view, origin))


def fit_on_rows(rows: Sequence[CheckedImage]) -> Calibration:
    """Return the calibration fitted on the given real QA rows (other checkers' rows are skipped).

    Its fallback warning is not printed: the report shows it beside the galleries.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return QAScan([r for r in rows if isinstance(r, ImageQA)], name="report real images").fit_calibration()


def _judged(checked: list[Checked], calibration: Calibration) -> list[Checked]:
    """Return the checked tiles with their flags judged against `calibration` (rows of other checkers kept)."""
    return [(t, qa.judged(calibration) if isinstance(qa, ImageQA) else qa, d) for t, qa, d in checked]


def calibration_context(calibration: Calibration, view: str, origin: str) -> dict[str, Any]:
    """Return what the report shows of the calibration used for one view: its summary, where it comes
    from and the data-quality findings among the real images of that view (ids and detectors, no
    header values)."""
    summary = calibration.summary()
    vc = calibration.for_view(view)
    findings = [f for f in summary.pop("data_quality") if f.get("view") == view or view not in ("CC", "MLO")]
    return {**summary, "origin": origin, "calibrated": vc.calibrated, "n_images": vc.n_images,
            "data_quality": findings}


def _check_all(checker: ImageChecker, tiles: Sequence[Tile], *, progress: bool,
               label: str) -> list[Checked]:
    """Return (tile, QA row, QA details) for every tile."""
    seq = track(tiles, label, enabled=progress and bool(tiles))
    out = []
    for t in seq:
        qa, details = checker(t.image, view=t.view if t.view != "unknown" else None, image_id=t.id)
        out.append((t, qa, details))
    return out


def _galleries(checked: list[Checked],
               options: ReportOptions) -> tuple[list[QAEntry], list[QAEntry], list[QAEntry]]:
    """Return (best, worst, flagged) entries ranked by the QA quality score (higher = better)."""
    ranked = sorted(checked, key=lambda c: (-float(c[1].quality_score), c[0].id))
    entries = [QAEntry(tile=t, quality_score=float(qa.quality_score), reasons=str(qa.reasons or "")) for t, qa, _ in ranked]
    n = min(options.n_gallery, len(entries) // 2)
    best, worst = entries[:n], entries[::-1][:n]
    flagged = [(t, qa, d) for t, qa, d in ranked[::-1] if qa.any_artifact]
    artifacts = []
    for t, qa, d in flagged[: options.n_artifacts]:
        heat = combined_heatmap(d, _flagged_detectors(qa))
        tile = Tile(id=t.id, view=t.view, role=t.role, image=t.image, caption=t.caption, heatmap=heat)
        artifacts.append(QAEntry(tile=tile, quality_score=float(qa.quality_score), reasons=str(qa.reasons or "")))
    return best, worst, artifacts


def combined_heatmap(details: CheckDetails, flagged: set[str] | None = None) -> np.ndarray | None:
    """Return the pixel-wise maximum of a QA result's detector heatmaps (each scaled to [0, 1]), or None.

    Args:
        details: QA details with ``heatmaps`` (detector name -> float [h, w], larger = worse).
        flagged: detector names that flagged the image: only their maps are drawn (all maps when
            none of them has one).
    """
    maps = details.heatmaps
    chosen = {k: m for k, m in maps.items() if flagged and k in flagged} or maps
    arrays = [np.asarray(m, dtype=np.float32) for m in chosen.values()]
    arrays = [a for a in arrays if a.ndim == 2 and a.size]
    if not arrays:
        return None
    shape = max((a.shape for a in arrays), key=lambda s: s[0] * s[1])
    out = np.zeros(shape, dtype=np.float32)
    for a in arrays:
        a = np.nan_to_num(a)
        top = float(a.max())
        if top <= 0:
            continue
        if a.shape != shape:
            a = np.asarray(Image.fromarray(a).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
        out = np.maximum(out, a / top)
    return out


def _flagged_detectors(qa: CheckedImage) -> set[str]:
    """Return the detector names whose ``flag_<name>`` is set in a QA row."""
    row = qa.to_row()
    return {k[len("flag_"):] for k, v in row.items() if k.startswith("flag_") and isinstance(v, (bool, np.bool_)) and v}


def _row(tile: Tile, qa: CheckedImage | None) -> dict[str, Any]:
    """Return the QA row of a tile (or only its id and view), plus the tissue-intensity density proxy."""
    row: dict[str, Any] = dict(qa.to_row()) if qa is not None else {"id": tile.id, "view": tile.view}
    row["tissue_intensity"] = tissue_intensity(tile.image)
    if "breast_area_fraction" not in row:
        row["breast_area_fraction"] = float(np.mean(tile.image > TISSUE_THRESHOLD))
    return row


def tissue_intensity(image: np.ndarray) -> float:
    """Return the mean grey level of tissue pixels (> TISSUE_THRESHOLD): a density proxy in [0, 1]; 0 if none."""
    tissue = image[image > TISSUE_THRESHOLD]
    return float(tissue.mean()) if tissue.size else 0.0


def _calc_stats(checked: list[Checked]) -> dict[str, list[float]]:
    """Return per-image calcification counts and per-detection sizes (px) and contrasts."""
    if not checked:
        return {}
    return {"count": [float(qa.n_calcs) for _, qa, _ in checked],
            "size_px": [float(c.diameter_px) for _, _, d in checked for c in d.calcs],
            "contrast": [float(c.contrast) for _, _, d in checked for c in d.calcs]}


def _msssim_pairs(fakes: Sequence[Tile], reals: Sequence[Tile],
                  options: ReportOptions) -> tuple[list[float], list[float], str]:
    """Return MS-SSIM of random pairs within the generated and within the real tiles, and a note."""
    rng = numpy_rng(options.seed, Stream.REPORT_MSSSIM_PAIRS)
    try:
        return _pairs(fakes, rng, options.n_msssim_pairs), _pairs(reals, rng, options.n_msssim_pairs), ""
    except (ValueError, RuntimeError) as e:
        return [], [], f"MS-SSIM could not be computed on these images ({e})"


def _pairs(tiles: Sequence[Tile], rng: np.random.Generator, n: int) -> list[float]:
    """Return the MS-SSIM of `n` random pairs of distinct tiles ([] for fewer than two tiles)."""
    if len(tiles) < 2:
        return []
    out = []
    for _ in range(n):
        i, j = rng.choice(len(tiles), size=2, replace=False)
        a = torch.from_numpy(np.ascontiguousarray(tiles[i].image))[None, None]
        b = torch.from_numpy(np.ascontiguousarray(tiles[j].image))[None, None]
        out.append(float(ms_ssim(a, b).flatten()[0]))
    return out
