"""The demo's result against the shipped gate: summarise scored demo runs into reports/train_demo.

For each run directory (trained with `mammoeval train --preset demo`, or a variant of it, then
`mammoeval score RUN`), reads best.json and the best checkpoint's score row and reports what the
issue of a working demo asks for: training time (log.jsonl time_s; CPU seconds when given), the
share of generated images with any QA flag (the gate's `artifact_rate`, limit 0.20), SWD against
its real-vs-real floor (goal: at most 3x), and copies the best checkpoint's grid next to the report.

    python benchmarks/train_demo.py RUN[=LABEL[=CPU_S]] ... [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from mammoeval.core.fsutil import read_jsonl
from mammoeval.core.rundir import GRID_DIR, fake_grid_name, read_config, read_log

REPORT_DIR = Path(__file__).resolve().parents[1] / "reports"
ARTIFACT_LIMIT = 0.20
SWD_FLOOR_FACTOR = 3.0


def summarize(run: Path, label: str, cpu_s: float | None) -> dict[str, Any]:
    """Return the best checkpoint's gate-relevant numbers of one scored run."""
    best = json.loads((run / "best.json").read_text())
    rows = [r for r in read_jsonl(run / "scores.jsonl") if r["checkpoint"] == best["checkpoint"]]
    row = rows[-1]
    swd = row["metrics"]["all"]["swd_avg"]
    qa = row["qa"]
    rate = {v: qa[v]["artifact_rate"]["any"]["fake"] for v in ("CC", "MLO") if v in qa}
    n = {v: qa[v]["n_fake"] for v in rate}
    any_all = sum(rate[v] * n[v] for v in rate) / max(sum(n.values()), 1)
    per_detector = {d: sum(qa[v]["artifact_rate"][d]["fake"] * n[v] for v in rate) / max(sum(n.values()), 1)
                    for d in qa["CC"]["artifact_rate"] if d != "any"}
    cfg = read_config(run)
    log = read_log(run)
    grid = run / GRID_DIR / fake_grid_name(int(row["n_images_shown"]))
    out_png = REPORT_DIR / f"train_demo-{label}.png"
    if grid.is_file():
        shutil.copyfile(grid, out_png)
    return {
        "label": label, "run": str(run), "overrides": {k: cfg[k] for k in ("pad_mode", "g_output", "g_views", "augment")
                                                        if k in cfg},
        "total_kimg": cfg["total_kimg"], "train_time_s": log[-1]["time_s"], "process_cpu_s": cpu_s,
        "best_checkpoint": best["checkpoint"], "best_kimg": row["kimg"], "resolution": row["resolution"],
        "n_per_view": row["n_per_view"], "artifact_rate": any_all, "artifact_rate_by_view": rate,
        "artifact_rate_by_detector": per_detector, "swd_avg": swd["value"], "swd_floor": swd["floor"],
        "swd_over_floor": swd["value"] / swd["floor"] if swd["floor"] else None,
        "passes_artifact_limit": any_all <= ARTIFACT_LIMIT,
        "swd_within_3x_floor": bool(swd["floor"]) and swd["value"] <= SWD_FLOOR_FACTOR * swd["floor"],
        "grid": out_png.name if grid.is_file() else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="RUN[=LABEL[=CPU_S]]")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    rows = []
    for spec in args.runs:
        parts = spec.split("=")
        run = Path(parts[0])
        rows.append(summarize(run, parts[1] if len(parts) > 1 else run.name,
                              float(parts[2]) if len(parts) > 2 else None))
    (REPORT_DIR / "train_demo.json").write_text(json.dumps({"note": args.note, "rows": rows}, indent=2) + "\n")
    lines = ["# Demo against the shipped gate (`benchmarks/train_demo.py`)", "", args.note, "",
             "| run | options | kimg | training s (log) | process CPU s | best | any QA flag (limit 20%) | "
             "background / boundary | SWD avg x1e3 | floor x1e3 | SWD / floor (goal <= 3) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu = f"{r['process_cpu_s']:.0f}" if r["process_cpu_s"] else "-"
        det = r["artifact_rate_by_detector"]
        lines.append(f"| {r['label']} | `{json.dumps(r['overrides'])}` | {r['total_kimg']:g} | {r['train_time_s']:.0f} | {cpu} | "
                     f"kimg {r['best_kimg']:.1f} | {r['artifact_rate']:.1%} | {det.get('background', 0):.1%} / "
                     f"{det.get('boundary', 0):.1%} | {r['swd_avg'] * 1e3:.1f} | {r['swd_floor'] * 1e3:.1f} | "
                     f"{r['swd_over_floor']:.2f} |")
    lines += [""] + [f"![{r['label']}]({r['grid']})" for r in rows if r["grid"]]
    (REPORT_DIR / "train_demo.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
