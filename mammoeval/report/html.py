"""Render `ReportData` into an offline report: ``OUT/index.html``, ``OUT/assets/``, ``OUT/report.json``.

The page is one jinja2 template with autoescaping on (every string from file names, configs or
scores is escaped), inline CSS and a few lines of inline JavaScript (lightbox with keyboard
navigation); it loads nothing from the network and works without JavaScript (thumbnails are plain
links to the full-resolution images).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from PIL import Image

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.metrics.registry import display_label, display_scale, headline_keys
from mammoeval.report import plots
from mammoeval.report.context import NNPair, QAEntry, ReportData, Tile, ViewSection
from mammoeval.report.extras import exports_context, study_context
from mammoeval.report.grids import Asset, heatmap_overlay, to_uint8, write_asset

ASSETS_DIR = "assets"
INDEX_FILE = "index.html"
JSON_FILE = "report.json"
TEMPLATE = "report.html.j2"



@dataclass(frozen=True)
class ReportResult:
    """Where the report was written and how big it is."""

    index: Path
    json: Path
    size_bytes: int
    n_images: int


def render_report(data: ReportData, out: str | Path) -> ReportResult:
    """Write the report of `data` into folder `out` and return its paths and size.

    Args:
        data: from `gather_run` or `gather_folders`.
        out: report folder (created; earlier report assets in it are replaced).
    """
    out = Path(out)
    assets = out / ASSETS_DIR
    if assets.is_dir():
        shutil.rmtree(assets)
    assets.mkdir(parents=True)
    writer = _AssetWriter(out)
    figures: dict[str, Any] = {}
    views = [_view_context(v, writer, data.grid_cols) for v in data.views]
    context: dict[str, Any] = {
        "title": data.title,
        "mode": data.mode,
        "source": data.source,
        "notes": data.notes,
        "summary": _summary(data),
        "gate": data.gate,
        "provenance_json": json.dumps(data.provenance, indent=2, sort_keys=True, default=str),
        "views": views,
        "training": _training_context(data, writer, figures),
        "statistics": _statistics_context(data, writer, figures),
        "exports": exports_context(data.exports, out),
        "study": study_context(data.study),
    }
    html = _environment().get_template(TEMPLATE).render(**context)
    write_text_atomic(out / INDEX_FILE, html)
    write_json_atomic(out / JSON_FILE, {"summary": context["summary"], "gate": data.gate,
                                        "exports": data.exports, "study": data.study,
                                        "provenance": data.provenance, "notes": data.notes,
                                        "views": [_view_json(v) for v in views],
                                        "figures": figures})
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return ReportResult(index=out / INDEX_FILE, json=out / JSON_FILE, size_bytes=size, n_images=writer.count)


def _environment() -> Any:
    return jinja2.Environment(loader=jinja2.PackageLoader("mammoeval.report", "templates"),
                              autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2"),
                                                                  default_for_string=True),
                              trim_blocks=True, lstrip_blocks=True)


class _AssetWriter:
    """Writes each tile once (full resolution + thumbnail) under counter-based, file-name-safe names."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0
        self._done: dict[tuple[str, str, str, bool], Asset] = {}

    def tile(self, tile: Tile, *, heat: bool = False) -> dict[str, Any]:
        """Return the template item of a tile (thumbnail, full image, caption, size)."""
        key = (tile.role, tile.view, tile.id, heat and tile.heatmap is not None)
        if key not in self._done:
            self.count += 1
            overlay = tile.heatmap if key[3] else None
            pixels = heatmap_overlay(tile.image, overlay) if overlay is not None else to_uint8(tile.image)
            name = f"{_safe(tile.view)}-{tile.role}-{self.count:04d}{'-heat' if key[3] else ''}"
            self._done[key] = write_asset(self.out / ASSETS_DIR, name, pixels, report_dir=self.out)
        a = self._done[key]
        return {"thumb": a.thumb, "full": a.full, "width": a.width, "height": a.height, "id": tile.id,
                "view": tile.view, "role": tile.role, "caption": tile.caption or tile.id}

    def image(self, name: str, pixels: np.ndarray) -> Asset:
        """Write a non-tile picture (snapshot grid)."""
        self.count += 1
        return write_asset(self.out / ASSETS_DIR, f"{name}-{self.count:04d}", pixels, report_dir=self.out)

    def figure(self, name: str, fig: Any) -> str:
        """Save a matplotlib figure; return its relative path."""
        path = self.out / ASSETS_DIR / f"fig-{name}.png"
        plots.save_figure(fig, path)
        return path.relative_to(self.out).as_posix()


def _safe(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum()) or "x"


def _summary(data: ReportData) -> dict[str, Any]:
    """Return the selected checkpoint, headline metrics per view and what is unavailable."""
    row = data.selected or {}
    metrics = row.get("metrics") or {}
    views = [v for v in ("CC", "MLO", "all") if v in metrics] + [v for v in metrics if v not in ("CC", "MLO", "all")]
    table = []
    # The registry's headline keys are shown; the other numbers of the row appear in report.json.
    for key in [k for k in headline_keys() if any(k in (metrics.get(v) or {}) for v in views)]:
        cells = [_metric_cell(key, (metrics.get(v) or {}).get(key)) for v in views]
        table.append({"key": key, "label": display_label(key), "cells": cells})
    best = data.best or {}
    return {
        "checkpoint": row.get("checkpoint") or best.get("checkpoint"),
        "kimg": row.get("kimg", best.get("kimg")),
        "resolution": row.get("resolution"),
        "n_per_view": row.get("n_per_view"),
        "rule": best.get("rule"),
        "explanation": best.get("explanation"),
        "views": views,
        "metrics": table,
        "unavailable": _group_unavailable(row.get("unavailable") or {}),
        "memorization": {k: v for k, v in (row.get("memorization") or {}).items() if k != "pairs"},
        "n_scored": len(data.scores),
    }


def _group_unavailable(unavailable: Mapping[str, Any]) -> dict[str, str]:
    """Return {"fid, kid": reason} with metrics sharing a reason joined, in first-seen order."""
    by_reason: dict[str, list[str]] = {}
    for key, why in unavailable.items():
        by_reason.setdefault(str(why), []).append(str(key))
    return {", ".join(keys): why for why, keys in by_reason.items()}


def _metric_cell(key: str, entry: Any) -> dict[str, Any]:
    """Return display strings of one metric entry {value, ci, floor, n_real, n_fake}."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("value"), (int, float)):
        return {"value": "—", "ci": "", "floor": "", "raw": None}
    scale = display_scale(key)
    ci = entry.get("ci")
    floor = entry.get("floor")
    ratio = entry.get("ratio")  # value / floor; absent in rows written before it existed
    floor_text = _fmt(floor * scale) if isinstance(floor, (int, float)) else ""
    if floor_text and isinstance(ratio, (int, float)):
        floor_text += f" (ratio {ratio:.3g})"
    return {
        "value": _fmt(entry["value"] * scale),
        "ci": f"[{_fmt(ci[0] * scale)}, {_fmt(ci[1] * scale)}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "",
        "floor": floor_text,
        "raw": entry,
    }


def _fmt(v: float) -> str:
    return f"{v:.4g}" if np.isfinite(v) else str(v)


def _view_context(v: ViewSection, w: _AssetWriter, grid_cols: int) -> dict[str, Any]:
    """Return the template items of one view section (writes its assets)."""
    def entry(e: QAEntry, heat: bool = False) -> dict[str, Any]:
        item = w.tile(e.tile, heat=heat)
        item["caption"] = f"{e.tile.id}: quality {e.quality_score:.3g}"
        item["reasons"] = e.reasons or "no finding"
        return item

    n = min(len(v.fakes), len(v.reals))
    return {
        "view": v.view,
        "grid_cols": grid_cols,
        "pairs": [(w.tile(f), w.tile(r)) for f, r in zip(v.fakes[:n], v.reals[:n], strict=True)],
        "grid": [w.tile(t) for t in v.fakes],
        "best": [entry(e) for e in v.best],
        "worst": [entry(e) for e in v.worst],
        "artifacts": [entry(e, heat=True) for e in v.artifacts],
        "nn_pairs": [_nn_item(p, w) for p in v.nn_pairs],
        "notes": v.notes,
        "calibration": v.calibration,
    }


def _nn_item(p: NNPair, w: _AssetWriter) -> dict[str, Any]:
    return {"fake": w.tile(p.fake) if p.fake is not None else None,
            "train": w.tile(p.train) if p.train is not None else None,
            "fake_id": p.fake_id, "train_id": p.train_id, "distance": _fmt(p.distance), "space": p.space,
            "flagged": p.flagged}


def _view_json(ctx: dict[str, Any]) -> dict[str, Any]:
    """Return a view's gallery listing for report.json (paths, ids, QA reasons)."""
    def strip(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: i[k] for k in ("id", "full", "caption", "reasons") if k in i} for i in items]

    return {"view": ctx["view"], "grid": strip(ctx["grid"]), "best": strip(ctx["best"]),
            "worst": strip(ctx["worst"]), "artifacts": strip(ctx["artifacts"]),
            "nn_pairs": [{k: p[k] for k in ("fake_id", "train_id", "distance", "space", "flagged")}
                         for p in ctx["nn_pairs"]], "notes": ctx["notes"], "calibration": ctx["calibration"]}


def _selected_kimg(data: ReportData) -> float | None:
    for src in (data.selected or {}, data.best or {}):
        if isinstance(src.get("kimg"), (int, float)):
            return float(src["kimg"])
    return None


def _training_context(data: ReportData, w: _AssetWriter, figures: dict[str, Any]) -> dict[str, Any]:
    """Return training figures and the snapshot timeline (writes their assets)."""
    ctx: dict[str, Any] = {"curves": None, "swd": None, "timeline": [], "reals_grid": None}
    kimg = _selected_kimg(data)
    if data.log:
        fig, nums = plots.plot_training_curves(data.log, selected_kimg=kimg)
        ctx["curves"] = w.figure("training", fig)
        figures["training"] = nums
    if plots.swd_series(data.scores):
        fig, nums = plots.plot_swd(data.scores, selected_kimg=kimg)
        ctx["swd"] = w.figure("swd", fig)
        figures["swd"] = nums
    for snap in data.snapshots:
        with Image.open(snap.path) as im:
            pixels = np.asarray(im.convert("L"))
        a = w.image("snapshot", pixels)
        ctx["timeline"].append({"thumb": a.thumb, "full": a.full, "kimg": snap.kimg,
                                "selected": kimg is not None and abs(snap.kimg - kimg) < 1e-9,
                                "caption": f"snapshot at {snap.kimg:g} kimg"})
    if data.reals_grid is not None:
        with Image.open(data.reals_grid) as im:
            a = w.image("reals-grid", np.asarray(im.convert("L")))
        ctx["reals_grid"] = {"thumb": a.thumb, "full": a.full, "caption": "real training images (grid)"}
    return ctx


def _statistics_context(data: ReportData, w: _AssetWriter, figures: dict[str, Any]) -> dict[str, Any]:
    """Return per-view distribution figures, the view-consistency table and the QA comparison of the scores."""
    figs = []
    consistency = []
    for v in data.views:
        real, fake = _stat_values(v.qa_real, v.calc_real, v.msssim_real), _stat_values(v.qa_fake, v.calc_fake, v.msssim_fake)
        fig, nums = plots.plot_distributions(v.view, real, fake)
        figs.append({"view": v.view, "path": w.figure(f"stats-{_safe(v.view)}", fig)})
        figures[f"statistics_{v.view}"] = nums
        consistency.append({"view": v.view, "real": _agreement(v.qa_real, v.view), "generated": _agreement(v.qa_fake, v.view),
                            "n_real": len(v.qa_real), "n_generated": len(v.qa_fake)})
    figures["view_consistency"] = consistency
    qa_scores = (data.selected or {}).get("qa") or {}
    return {"figures": figs, "consistency": consistency,
            "qa_json": json.dumps(qa_scores, indent=2, sort_keys=True, default=str) if qa_scores else ""}


def _stat_values(rows: list[dict[str, Any]], calc: dict[str, list[float]], msssim: list[float]) -> dict[str, list[float]]:
    return {
        "calc_count": calc.get("count", []),
        "calc_size": calc.get("size_px", []),
        "calc_contrast": calc.get("contrast", []),
        "msssim": list(msssim),
        "breast_area": [r["breast_area_fraction"] for r in rows if "breast_area_fraction" in r],
        "density": [r["tissue_intensity"] for r in rows if "tissue_intensity" in r],
    }


def _agreement(rows: list[dict[str, Any]], view: str) -> str:
    """Return the share of rows whose predicted view equals `view` ("—" when QA gave no prediction)."""
    preds = [str(r["predicted_view"]).upper() for r in rows if r.get("predicted_view") not in (None, "")]
    if not preds or view not in ("CC", "MLO"):
        return "—"
    return f"{sum(p == view for p in preds) / len(preds):.0%} of {len(preds)}"
