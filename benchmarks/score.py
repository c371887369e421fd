"""Benchmark: score a demo-like run's final checkpoint (80x64) with 256 images per view on CPU.

Uses RUN (default runs/demo) when it holds a trained demo run; otherwise trains a demo-like run
first (the `demo` preset's network, data and final resolution with a schedule shortened to a few
hundred images: the numbers are meaningless, the cost of scoring is the same). Measures the first
call (generation, metrics, QA, real statistics computed and cached), a second call (no work), and
peak resident memory; writes reports/score.json and reports/score.md.

    python benchmarks/score.py [--run runs/demo] [--n 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import torch

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.core.rundir import list_checkpoints
from mammoeval.score.run import score_run
from mammoeval.score.settings import ScoreSettings

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def ensure_demo_like_run(run: Path) -> tuple[Path, str]:
    """Return a run directory with a final-resolution demo checkpoint, and how it was obtained."""
    refs = list_checkpoints(run)
    if refs:
        return run, "existing run"
    from mammoeval_train.config import preset, with_overrides
    from mammoeval_train.loop import train

    out = Path("/tmp/mammoeval-bench-score-run")
    if list_checkpoints(out):
        return out, "demo-like run (cached)"
    cfg = with_overrides(preset("demo"), phase_kimg=0.064, transition_kimg=0.064, total_kimg=0.6,
                         kimg_per_tick=0.064, ticks_per_checkpoint=100)
    train(cfg, data=None, out=out, resume=False, progress=False)
    return out, "demo-like run (demo network and data, schedule shortened to 0.6 kimg)"


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    run, origin = ensure_demo_like_run(args.run)
    for f in ("scores.jsonl", "best.json"):
        (run / f).unlink(missing_ok=True)
    cache = run / ".cache"
    if cache.is_dir():
        for p in cache.iterdir():
            p.unlink()
    settings = ScoreSettings(n_per_view=args.n, device=args.device)
    t0 = time.perf_counter()
    first = score_run(run, settings=settings, last=1, progress=False)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = score_run(run, settings=settings, last=1, progress=False)
    t_second = time.perf_counter() - t0
    row = first.new_rows[0]
    result = {
        "run": str(run), "origin": origin, "checkpoint": row["checkpoint"], "resolution": row["resolution"],
        "n_per_view": args.n, "device": args.device, "first_call_s": round(t_first, 2),
        "second_call_s": round(t_second, 2), "second_call_new_rows": len(second.new_rows),
        "timing": row["timing"], "peak_rss_mb": round(peak_rss_mb(), 1),
        "unavailable": row.get("unavailable", {}),
        "swd_avg_all": row["metrics"].get("all", {}).get("swd_avg", {}).get("value"),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "torch": torch.__version__},
    }
    REPORTS.mkdir(exist_ok=True)
    write_json_atomic(REPORTS / "score.json", result)
    tm = row["timing"]
    md = f"""# Scoring benchmark

Scoring the final checkpoint ({row['resolution'][0]}x{row['resolution'][1]}) of a {origin}
with {args.n} generated images per view ({2 * args.n} in all) against the run's real set, on
`{args.device}` ({os.cpu_count()} CPU cores, torch {torch.__version__}). The CPU was shared with
other jobs while this ran, so times are pessimistic.

| step | seconds |
|---|---:|
| generation | {tm['generate_s']} |
| metrics suite (incl. real statistics, cached afterwards) | {tm['metrics_s']} |
| QA scan (real once + generated) | {tm['qa_s']} |
| **first call, total** | **{t_first:.1f}** |
| second call (nothing new to score) | {t_second:.2f} |

Peak resident memory: {peak_rss_mb():.0f} MiB. Target: at most a few minutes on CPU.
Unavailable: {', '.join(f'{k} ({v})' for k, v in result['unavailable'].items()) or 'none'}.
"""
    write_text_atomic(REPORTS / "score.md", md)
    print(md)


if __name__ == "__main__":
    main()
