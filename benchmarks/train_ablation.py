"""Ablations of the demo trainer: which settings give black backgrounds, clean borders and low SWD.

Each variant is the `demo` preset with a few fields overridden (optionally on a shortened
schedule, --schedule-scale), trained on the same built-in phantom (80x64, 256 images) in its own
subprocess with one torch thread (--jobs of them at a time). Its last G-EMA then makes 64 images
per view, which are measured against the first 64 reals per view:

- QA: share of images with any artifact flag and with the background / boundary flag (QA
  thresholds as shipped), and the share of MLO images whose pectoral muscle QA finds;
- frame: mean grey level of the outermost pixel ring minus that of the reals (bright borders);
- background: share of pixels that are black (< 1/255) in fakes vs reals (grey backgrounds);
- SWD (average over pyramid levels, raw) with its real-vs-real floor (mammoeval_train.snapshot_swd).

Writes reports/train_ablation.json and .md (rows are appended per --tag, so several invocations
build one table).

    python benchmarks/train_ablation.py --variants baseline_pggan,clamp,replicate,fixed [--schedule-scale 0.5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPORT_DIR = Path(__file__).resolve().parents[1] / "reports"
N_EVAL = 64

VARIANTS: dict[str, dict[str, Any]] = {
    # PGGAN's choices: zero padding, linear output, uniform G views (as the trainer was)
    "baseline_pggan": {"pad_mode": "zero", "g_output": "linear", "g_views": "uniform"},
    "clamp": {"pad_mode": "zero", "g_output": "clamp"},
    "replicate": {"pad_mode": "replicate", "g_output": "linear"},
    "fixed": {},
    "fixed_lr1e-3": {"lr": 0.001},
    "fixed_lr15e-4": {"lr": 0.0015},
    "fixed_wide": {"fmap_base": 512, "fmap_max": 128},
    "fixed_reset_both": {"opt_reset": "fade_in_and_stable"},
    "fixed_ema999": {"ema_beta": 0.999},
    "fixed_augment": {"augment": ["translation", "cutout", "contrast"]},
    # small-data pair (run with --train-n 32 --size 40x32): without and with the augmentations
    "small_plain": {},
    "small_augment": {"augment": ["translation", "cutout", "contrast"]},
}


def variant_config(name: str, schedule_scale: float, extra: dict[str, Any], size: tuple[int, int] | None) -> Any:
    """Return the demo config with the variant's overrides, the schedule scaled and, when `size` is
    given, the stages up to `size` only (phase_scale and minibatch cut to match)."""
    from mammoeval_train.config import preset, with_overrides

    cfg = preset("demo")
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in {**VARIANTS[name], **extra}.items()}
    if size is not None:
        n = cfg.n_stages - (cfg.size[0] // size[0]).bit_length() + 1
        over.update(size=size, minibatch=cfg.minibatch[:n],
                    phase_scale=cfg.phase_scale[:n] if cfg.phase_scale else None)
    if schedule_scale != 1.0:
        over.update(phase_kimg=cfg.phase_kimg * schedule_scale, transition_kimg=cfg.transition_kimg * schedule_scale,
                    total_kimg=cfg.total_kimg * schedule_scale)
    return with_overrides(cfg, swd_per_view=0, ticks_per_checkpoint=1000, device="cpu", **over)


def evaluate(run: Path, dataset: Path) -> dict[str, Any]:
    """Return the QA, frame, background and SWD measures of the run's last G-EMA (see module doc);
    `dataset` (the full phantom) is read at the generator's resolution; QA only at 80x64 and up."""
    from mammoeval.core.rundir import list_checkpoints
    from mammoeval.qa.scan import check_image
    from mammoeval_train.generate import load_generator
    from mammoeval_train.snapshot_swd import read_real_sample

    gen = load_generator(list_checkpoints(run)[-1].path)
    views = torch.tensor([0] * N_EVAL + [1] * N_EVAL)
    fake = gen.generate(list(range(2 * N_EVAL)), views).numpy()[:, 0]
    reduction = 80 // gen.resolution[0]
    real, real_views = read_real_sample(dataset, reduction=reduction, n_per_view=N_EVAL)
    real_np = real.numpy()[:, 0]
    if gen.resolution[0] < 80:
        return {"swd_avg": None, "swd_floor_avg": None, **_swd(gen, dataset, reduction)}
    rows = [check_image(img, view="CC" if v == 0 else "MLO")[0] for img, v in zip(fake, views.tolist(), strict=True)]
    real_rows = [check_image(img, view="CC" if v == 0 else "MLO")[0]
                 for img, v in zip(real_np, real_views.tolist(), strict=True)]

    def frame(x: np.ndarray) -> float:
        ring = np.concatenate([x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]], axis=1)
        return float(ring.mean())

    swd = _swd(gen, dataset, reduction)
    mlo = [r for r in rows if r.view == "MLO"]
    mlo_real = [r for r in real_rows if r.view == "MLO"]
    return {
        "artifact_rate": float(np.mean([r.any_artifact for r in rows])),
        "background_rate": float(np.mean([r.flag("background") for r in rows])),
        "boundary_rate": float(np.mean([r.flag("boundary") for r in rows])),
        "artifact_rate_real": float(np.mean([r.any_artifact for r in real_rows])),
        "pectoral_mlo": float(np.mean([r.pectoral_present for r in mlo])),
        "pectoral_mlo_real": float(np.mean([r.pectoral_present for r in mlo_real])),
        "frame_excess": frame(fake) - frame(real_np),
        "black_share": float((fake < 1 / 255).mean()), "black_share_real": float((real_np < 1 / 255).mean()),
        "swd_avg": swd.get("swd_avg"), "swd_floor_avg": swd.get("swd_floor_avg"),
    }


def _swd(gen: Any, dataset: Path, reduction: int) -> dict[str, Any]:
    from mammoeval_train.snapshot_swd import compute_snapshot_swd

    row = compute_snapshot_swd(gen.network, dataset=dataset, reduction=reduction, stage=gen.stage, alpha=gen.alpha,
                               n_per_view=N_EVAL, latent_size=int(gen.config["latent_size"]), seed=0,
                               device=torch.device("cpu")) or {}
    return {"swd_avg": row.get("swd_avg"), "swd_floor_avg": row.get("swd_floor_avg")}


def run_variant(name: str, out: Path, dataset: Path, train_data: Path, schedule_scale: float, extra: dict[str, Any],
                size: tuple[int, int] | None) -> dict[str, Any]:
    """Train variant `name` on `train_data` into `out` (this process, one thread); return its measures on `dataset`."""
    from mammoeval.core.rundir import read_log
    from mammoeval_train.loop import train

    torch.set_num_threads(1)
    cfg = variant_config(name, schedule_scale, extra, size)
    t0 = time.process_time()
    train(cfg, data=train_data, out=out, resume=False, progress=False)
    cpu = time.process_time() - t0
    log = read_log(out)
    return {"variant": name, "overrides": {**VARIANTS[name], **extra}, "schedule_scale": schedule_scale,
            "size": list(cfg.size), "train_n": len(list((train_data / "images").rglob("*.png"))),
            "kimg": cfg.total_kimg, "train_cpu_s": cpu, "train_time_s": log[-1]["time_s"], **evaluate(out, dataset)}


def ensure_phantom(root: Path, n: int | None = None, seed: int | None = None) -> Path:
    """Return a phantom dataset at `root` (written once): the demo preset's size, count and seed
    unless `n` / `seed` say otherwise."""
    from mammoeval.data.phantom import write_phantom_dataset
    from mammoeval.data.prepared import is_prepared_dataset
    from mammoeval_train.config import preset

    cfg = preset("demo")
    if not is_prepared_dataset(root):
        write_phantom_dataset(root, n=n or cfg.phantom_n, size=cfg.size, seed=cfg.seed if seed is None else seed,
                              progress=False)
    return root


def write_report(rows: list[dict[str, Any]]) -> None:
    """Write reports/train_ablation.json and .md from all rows."""
    meta = {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
            "n_eval_per_view": N_EVAL, "load_avg_end": list(os.getloadavg())}
    (REPORT_DIR / "train_ablation.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Trainer ablations (`benchmarks/train_ablation.py`)", "",
        f"`demo` preset variants on the built-in 80x64 phantom; torch {meta['torch']}, {meta['cpus']} CPUs "
        "shared with other jobs (one torch thread per run; CPU seconds are the better cost measure). "
        f"Measured on the last G-EMA, {N_EVAL} images per view, QA thresholds as shipped.", "",
        "| tag | variant | overrides | kimg | train CPU s | any flag | background | boundary | frame excess "
        "| black px (real) | MLO pectoral (real) | SWD avg x1e3 | floor x1e3 | SWD/floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        swd, floor = r.get("swd_avg"), r.get("swd_floor_avg")
        ratio = f"{swd / floor:.2f}" if swd and floor else "-"
        if "artifact_rate" not in r:
            lines.append(f"| {r.get('tag', '')} | {r['variant']} | `{json.dumps(r['overrides'])}` | {r['kimg']:.1f} | "
                         f"{r['train_cpu_s']:.0f} | - | - | - | - | - | - | {swd * 1e3 if swd else float('nan'):.1f} | "
                         f"{floor * 1e3 if floor else float('nan'):.1f} | {ratio} |")
            continue
        lines.append(
            f"| {r.get('tag', '')} | {r['variant']} | `{json.dumps(r['overrides'])}` | {r['kimg']:.1f} | {r['train_cpu_s']:.0f} "
            f"| {r['artifact_rate']:.0%} | {r['background_rate']:.0%} | {r['boundary_rate']:.0%} | {r['frame_excess']:+.3f} "
            f"| {r['black_share']:.0%} ({r['black_share_real']:.0%}) | {r['pectoral_mlo']:.0%} ({r['pectoral_mlo_real']:.0%}) "
            f"| {swd * 1e3 if swd else float('nan'):.1f} | {floor * 1e3 if floor else float('nan'):.1f} | {ratio} |")
    (REPORT_DIR / "train_ablation.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="baseline_pggan,clamp,replicate,fixed")
    ap.add_argument("--schedule-scale", type=float, default=1.0, help="factor on phase/transition/total kimg")
    ap.add_argument("--set", default="{}", help="JSON of extra overrides for every variant")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--work", type=Path, default=Path("/tmp/train_ablation"))
    ap.add_argument("--train-n", type=int, default=None,
                    help="train on a separate phantom of this many images (seed 1); measured against the 256-image one")
    ap.add_argument("--size", default=None, help="train only up to HxW (e.g. 40x32)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    extra = json.loads(args.set)
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None
    dataset = ensure_phantom(args.work / "phantom")
    train_data = ensure_phantom(args.work / f"phantom-{args.train_n}", n=args.train_n, seed=1) if args.train_n else dataset
    if args.one:
        out = args.work / f"{args.tag}-{args.one}"
        row = run_variant(args.one, out, dataset, train_data, args.schedule_scale, extra, size)  # type: ignore[arg-type]
        (out / "ablation.json").write_text(json.dumps(row))
        return
    names = args.variants.split(",")
    pending = list(names)
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            cmd = [sys.executable, __file__, "--one", name, "--schedule-scale", str(args.schedule_scale),
                   "--set", args.set, "--tag", args.tag, "--work", str(args.work)]
            cmd += ["--train-n", str(args.train_n)] if args.train_n else []
            cmd += ["--size", args.size] if args.size else []
            running.append((name, subprocess.Popen(cmd)))
        time.sleep(2)
        running = [(n, p) for n, p in running if p.poll() is None]
    path = REPORT_DIR / "train_ablation.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    for name in names:
        f = args.work / f"{args.tag}-{name}" / "ablation.json"
        if f.is_file():
            rows = [r for r in rows if (r.get("tag"), r["variant"]) != (args.tag, name)]
            rows.append({"tag": args.tag, **json.loads(f.read_text())})
    write_report(rows)


if __name__ == "__main__":
    main()
