"""The README's first command, timed: `mammoeval train --preset demo` end to end (phantom included).

Runs the CLI in a subprocess with --threads N and records its wall time, its process CPU time
(user + sys of the child, from resource.getrusage) and the load average before and after, so the
claim "demo training fits in 5 minutes on 2 cores" is backed by a number that the load of other
jobs on a shared machine distorts little (CPU time). Writes reports/demo_run.json and .md.

    python benchmarks/demo_run.py [--threads 1] [--out /tmp/demo-run] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mammoeval.core.fsutil import read_jsonl, write_json_atomic, write_text_atomic
from mammoeval.core.rundir import GRID_DIR, METRICS_FILE, REALS_GRID, read_log

REPORT_DIR = Path(__file__).resolve().parents[1] / "reports"


def run_demo(out: Path, threads: int) -> dict[str, Any]:
    """Return wall and CPU seconds of one `mammoeval train --preset demo` subprocess, with load averages."""
    cmd = [sys.executable, "-m", "mammoeval", "train", "--preset", "demo", "--out", str(out), "--threads",
           str(threads), "--no-progress"]
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(["mammoeval", *cmd[3:]]), "threads": threads, "wall_s": wall, "cpu_s": cpu,
            "load_before": list(load_before), "load_after": list(os.getloadavg())}


def summarize_run(out: Path) -> dict[str, Any]:
    """Return what the run reached (from log.jsonl) and what the snapshot SWD cost (from metrics.jsonl)."""
    rows = read_log(out)
    metrics = read_jsonl(out / METRICS_FILE) if (out / METRICS_FILE).is_file() else []
    train_s = rows[-1]["time_s"] if rows else 0.0
    swd_s = sum(m["seconds"] for m in metrics)
    per_res: dict[str, float] = {}
    prev = 0.0
    for r in rows:
        per_res[r["resolution"]] = per_res.get(r["resolution"], 0.0) + (r["time_s"] - prev)
        prev = r["time_s"]
    return {"kimg": rows[-1]["kimg"] if rows else 0.0, "resolution": rows[-1]["resolution"] if rows else None,
            "alpha": rows[-1]["alpha"] if rows else None, "ticks": len(rows), "train_time_s": train_s,
            "seconds_per_resolution": per_res, "swd_rows": metrics, "swd_seconds": swd_s,
            "swd_share_of_training": swd_s / train_s if train_s else None}


def copy_grids(out: Path) -> dict[str, str]:
    """Copy the run's last fakes grid and its reals grid to reports/demo_run-{fakes,reals}.png; return their names."""
    fakes = sorted((out / GRID_DIR).glob("fakes-*.png"))
    copied: dict[str, str] = {}
    for key, src in (("fakes", fakes[-1] if fakes else None), ("reals", out / GRID_DIR / REALS_GRID)):
        if src is not None and src.is_file():
            dst = REPORT_DIR / f"demo_run-{key}.png"
            shutil.copyfile(src, dst)
            copied[key] = dst.name
    return copied


def write_report(result: dict[str, Any]) -> None:
    """Write reports/demo_run.json and reports/demo_run.md."""
    write_json_atomic(REPORT_DIR / "demo_run.json", result)
    r, s = result["run"], result["summary"]
    lines = [
        f"# Demo run (`{r['command']}`)", "",
        f"torch {result['torch']}, {result['cpus']} CPUs, {r['threads']} torch thread(s), {result['date']}.", "",
        "| measure | value |", "|---|---|",
        f"| process CPU time (user + sys, whole command incl. phantom) | {r['cpu_s']:.0f} s ({r['cpu_s'] / 60:.1f} min) |",
        f"| wall time | {r['wall_s']:.0f} s ({r['wall_s'] / 60:.1f} min) |",
        f"| training time logged (time_s) | {s['train_time_s']:.0f} s |",
        f"| load average (1, 5, 15 min) before | {', '.join(f'{x:.2f}' for x in r['load_before'])} |",
        f"| load average after | {', '.join(f'{x:.2f}' for x in r['load_after'])} |",
        f"| reached | kimg {s['kimg']:.1f}, {s['resolution']}, alpha {s['alpha']} |",
        f"| snapshot SWD cost | {s['swd_seconds']:.1f} s ({100 * (s['swd_share_of_training'] or 0):.1f} % of training) |",
        "", "Wall seconds per resolution (from log.jsonl time_s):", "",
        "| resolution | seconds |", "|---|---|",
        *[f"| {k} | {v:.0f} |" for k, v in sorted(s["seconds_per_resolution"].items(),
                                                   key=lambda kv: int(kv[0].split("x")[0]))],
        "", "SWD at snapshots (raw, both views, 64 images per view; floor = real vs real halves):", "",
        "| kimg | resolution | swd_avg | floor |", "|---|---|---|---|",
        *[f"| {m['kimg']:.1f} | {m['resolution']} | {m['swd_avg']:.4f} | {m['swd_floor_avg']:.4f} |"
          for m in s["swd_rows"]],
        "", *(["Last snapshot grid (G-EMA, top row CC, bottom row MLO) and the reals grid:", "",
               *[f"![{k}]({v})" for k, v in result.get("grids", {}).items()], ""] if result.get("grids") else []),
        "", "The machine was shared with other jobs: wall time is inflated by the load shown above; the CPU "
        "time is the better estimate of the wall time on quiet cores with one thread (2 threads: less).", "",
    ]
    write_text_atomic(REPORT_DIR / "demo_run.md", "\n".join(lines))


def main() -> None:
    """Parse options, run the demo once, write the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="demo-run-")) / "run"
    try:
        run = run_demo(out, args.threads)
        result = {"torch": torch.__version__, "cpus": os.cpu_count(), "python": platform.python_version(),
                  "date": time.strftime("%Y-%m-%d %H:%M"), "run": run, "summary": summarize_run(out), "grids": copy_grids(out)}
        write_report(result)
        print(json.dumps({k: v for k, v in run.items()}, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
