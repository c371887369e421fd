"""Report sections beyond the scores: the run's exports of generated images and a finished reader study.

Exports come from RUN/exports.jsonl (written by `mammoeval generate`); the study from
`mammoeval study score --out` (RUN/study_results.json is picked up by itself, any other file
is given with `mammoeval report --study FILE`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import read_json, read_jsonl
from mammoeval.export.generate import EXPORTS_FILE
from mammoeval.study.score import POOLED, STUDY_RESULTS_FILE

__all__ = ["STUDY_RESULTS_FILE", "exports_context", "read_exports", "read_study", "study_context"]


def read_exports(run_dir: str | Path) -> list[dict[str, Any]]:
    """Return the rows of RUN/exports.jsonl (empty when the run was never exported)."""
    return read_jsonl(Path(run_dir) / EXPORTS_FILE)


def read_study(path: str | Path, *, required: bool = True) -> dict[str, Any] | None:
    """Return study results written by `mammoeval study score`, or None when absent and not required.

    Raises:
        BadInputError: the file is required and missing, or it is not study results.
    """
    p = Path(path)
    if not p.is_file():
        if required:
            raise BadInputError(p, "no such study results file (write it with `mammoeval study score --out`)")
        return None
    obj = read_json(p)
    if not isinstance(obj, dict) or not isinstance(obj.get("readers"), dict) or POOLED not in obj:
        raise BadInputError(p, "not the results of `mammoeval study score` (no readers / pooled)")
    return obj


def exports_context(exports: list[dict[str, Any]], report_dir: Path) -> list[dict[str, Any]]:
    """Return one display row per export with links relative to the report folder."""
    out = []
    for e in exports:
        folder = Path(str(e.get("out", "")))
        manifest = Path(str(e.get("manifest", folder / "manifest.json")))
        out.append({
            "href": _rel(folder, report_dir), "manifest_href": _rel(manifest, report_dir),
            "exists": folder.is_dir(), "checkpoint": e.get("checkpoint"), "format": e.get("format"),
            "bits": e.get("bits"), "n_images": e.get("n_images"), "views": ", ".join(e.get("views") or []),
            "seed": e.get("seed"), "created": e.get("created"),
        })
    return out


def study_context(study: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the study table: per reader and pooled, AUC with interval, accuracy, per-view AUC."""
    if not study:
        return None

    def fmt(v: Any) -> str:
        return "—" if not isinstance(v, (int, float)) else f"{v:.2f}"

    rows = []
    for name, r in [*sorted(study.get("readers", {}).items()), (POOLED, study.get(POOLED) or {})]:
        ci = r.get("ci")
        rows.append({"reader": name, "n": r.get("n"), "auc": fmt(r.get("auc")),
                     "ci": f"[{fmt(ci[0])}, {fmt(ci[1])}]" if isinstance(ci, list) and len(ci) == 2 else "",
                     "accuracy": fmt(r.get("accuracy")), "undecided": fmt(r.get("undecided")),
                     "views": ", ".join(f"{v} {fmt(x.get('auc'))}" for v, x in (r.get("views") or {}).items())})
    return {"rows": rows, "n_items": study.get("n_items"), "n_items_rated": study.get("n_items_rated"),
            "scale": study.get("scale", ""), "n_readers": len(study.get("readers", {}))}


def _rel(target: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive (Windows): an absolute file URI instead
        return target.resolve().as_uri()
