"""Per-view analysis of the report's images: QA galleries, calcification and diversity statistics.

QA comes from `mammoeval.qa.scan.check_image` (one pure function per image); MS-SSIM from
`mammoeval.metrics.msssim`. When either package is missing, the affected gallery or figure gets a
"not available" note and the rest of the report goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mammoeval.report.data import ImageChecker, QAEntry, ReportOptions, Tile, ViewAnalysis

TISSUE_THRESHOLD = 0.04
"""Grey level above which a pixel counts as tissue for the density proxy (background is 0)."""


def analyse_view(view: str, fakes: Sequence[Tile], reals: Sequence[Tile], options: ReportOptions, *,
                 check_image: ImageChecker | None = None, progress: bool = False) -> ViewAnalysis:
    """Return the QA galleries and real-vs-generated statistics of one view's tiles."""
    checker = check_image or _default_checker()
    notes: dict[str, str] = {}
    if not fakes:
        notes["fakes"] = "no generated images for this view"
    checked_f: list[tuple[Tile, Any, Any]] = []
    checked_r: list[tuple[Tile, Any, Any]] = []
    if checker is None:
        notes["qa"] = "the QA package (mammoeval.qa) is not available: best/worst and artifact galleries need it"
    else:
        checked_f = _check_all(checker, fakes, progress=progress, label=f"QA {view} generated")
        checked_r = _check_all(checker, reals, progress=progress, label=f"QA {view} real")
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
        msssim_fake=ms_f, msssim_real=ms_r, notes=notes)


def _default_checker() -> ImageChecker | None:
    try:
        from mammoeval.qa.scan import check_image
    except ImportError:
        return None
    return check_image


def _check_all(checker: ImageChecker, tiles: Sequence[Tile], *, progress: bool,
               label: str) -> list[tuple[Tile, Any, Any]]:
    """Return (tile, ImageQA, ImageDetails) for every tile."""
    from rich.progress import track

    seq = track(tiles, description=label, transient=True) if progress and tiles else tiles
    out = []
    for t in seq:
        qa, details = checker(t.image, view=t.view if t.view != "unknown" else None, image_id=t.id)
        out.append((t, qa, details))
    return out


def _galleries(checked: list[tuple[Tile, Any, Any]],
               options: ReportOptions) -> tuple[list[QAEntry], list[QAEntry], list[QAEntry]]:
    """Return (best, worst, flagged) entries ranked by the QA quality score (higher = better)."""
    ranked = sorted(checked, key=lambda c: (-float(c[1].quality_score), c[0].id))
    entries = [QAEntry(tile=t, quality_score=float(qa.quality_score), reasons=str(qa.reasons or "")) for t, qa, _ in ranked]
    n = min(options.n_gallery, len(entries) // 2)
    best, worst = entries[:n], entries[::-1][:n]
    flagged = [(t, qa, d) for t, qa, d in ranked[::-1] if bool(getattr(qa, "any_artifact", False))]
    artifacts = []
    for t, qa, d in flagged[: options.n_artifacts]:
        heat = combined_heatmap(d, _flagged_detectors(qa))
        tile = Tile(id=t.id, view=t.view, role=t.role, image=t.image, caption=t.caption, heatmap=heat)
        artifacts.append(QAEntry(tile=tile, quality_score=float(qa.quality_score), reasons=str(qa.reasons or "")))
    return best, worst, artifacts


def combined_heatmap(details: Any, flagged: set[str] | None = None) -> np.ndarray | None:
    """Return the pixel-wise maximum of a QA result's detector heatmaps (each scaled to [0, 1]), or None.

    Args:
        details: QA details with ``heatmaps`` (detector name -> float [h, w], larger = worse).
        flagged: detector names that flagged the image: only their maps are drawn (all maps when
            none of them has one).
    """
    maps = getattr(details, "heatmaps", None) or {}
    if not isinstance(maps, dict):
        maps = dict(enumerate(maps))
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
            from PIL import Image

            a = np.asarray(Image.fromarray(a).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
        out = np.maximum(out, a / top)
    return out


def _flagged_detectors(qa: Any) -> set[str]:
    """Return the detector names whose ``flag_<name>`` is set in a QA row."""
    row = qa.to_row() if hasattr(qa, "to_row") else {}
    return {k[len("flag_"):] for k, v in row.items() if k.startswith("flag_") and isinstance(v, (bool, np.bool_)) and v}


def _row(tile: Tile, qa: Any | None) -> dict[str, Any]:
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


def _calc_stats(checked: list[tuple[Tile, Any, Any]]) -> dict[str, list[float]]:
    """Return per-image calcification counts and per-detection sizes (px) and contrasts."""
    counts: list[float] = []
    sizes: list[float] = []
    contrasts: list[float] = []
    for _, qa, details in checked:
        counts.append(float(getattr(qa, "n_calcs", 0) or 0))
        for c in getattr(details, "calcs", None) or getattr(details, "calcifications", None) or ():
            size = _first_attr(c, ("diameter_px", "size_px", "diameter", "size", "area_px"))
            contrast = _first_attr(c, ("contrast",))
            if size is not None:
                sizes.append(size)
            if contrast is not None:
                contrasts.append(contrast)
    return {"count": counts, "size_px": sizes, "contrast": contrasts} if checked else {}


def _first_attr(obj: Any, names: Sequence[str]) -> float | None:
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if isinstance(v, (int, float, np.number)):
            return float(v)
    return None


def _msssim_pairs(fakes: Sequence[Tile], reals: Sequence[Tile],
                  options: ReportOptions) -> tuple[list[float], list[float], str]:
    """Return MS-SSIM of random pairs within the generated and within the real tiles, and a note."""
    fn = _msssim_fn()
    if fn is None:
        return [], [], "MS-SSIM is not available (mammoeval.metrics.msssim missing)"
    rng = np.random.default_rng(options.seed)
    try:
        return _pairs(fn, fakes, rng, options.n_msssim_pairs), _pairs(fn, reals, rng, options.n_msssim_pairs), ""
    except (ValueError, RuntimeError) as e:
        return [], [], f"MS-SSIM could not be computed on these images ({e})"


def _pairs(fn: Callable[[Any, Any], Any], tiles: Sequence[Tile], rng: np.random.Generator, n: int) -> list[float]:
    import torch

    if len(tiles) < 2:
        return []
    out = []
    for _ in range(n):
        i, j = rng.choice(len(tiles), size=2, replace=False)
        a = torch.from_numpy(np.ascontiguousarray(tiles[i].image))[None, None]
        b = torch.from_numpy(np.ascontiguousarray(tiles[j].image))[None, None]
        out.append(float(torch.as_tensor(fn(a, b)).flatten()[0]))
    return out


def _msssim_fn() -> Callable[[Any, Any], Any] | None:
    """Return the metrics package's MS-SSIM of two [N, 1, H, W] batches, or None when absent."""
    try:
        from mammoeval.metrics import msssim
    except ImportError:
        return None
    for name in ("ms_ssim", "compute_ms_ssim", "msssim"):
        fn = getattr(msssim, name, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    return None
