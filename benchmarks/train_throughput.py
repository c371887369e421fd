"""Training throughput (images shown per second) per resolution for the `demo` and `paper` networks.

Runs real training iterations (d_steps D steps with gradient penalty + one G step + EMA) on
synthetic reals, at alpha 0.5 for every stage after the first (the fade path is the costlier one),
and writes reports/train_throughput.json and .md.

    python benchmarks/train_throughput.py [--device cpu|cuda] [--seconds 4] [--paper-max-stage 4] [--threads N]

The paper network on CPU is measured only up to --paper-max-stage (larger stages take minutes per
step on a laptop CPU); on a GPU all nine stages run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mammoeval.core import ddp
from mammoeval_train.config import TrainConfig, preset, with_overrides
from mammoeval_train.loop import RunContext, TrainState, build_state, train_step
from mammoeval_train.loss import LossWeights
from mammoeval_train.schedule import Position

REPORT_DIR = Path(__file__).resolve().parents[1] / "reports"


@dataclass
class SyntheticFeed:
    """Random reals in [-1, 1] with alternating views, standing in for RealFeed."""

    batch: int
    size: tuple[int, int]
    device: torch.device

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(self.batch, 1, *self.size, generator=g) * 2 - 1
        return x.to(self.device), (torch.arange(self.batch) % 2).to(self.device)


def measure_stage(cfg: TrainConfig, state: TrainState, run: RunContext, stage: int, seconds: float) -> dict[str, float]:
    """Return img/s and ms per iteration for `stage` at d_steps 1, timing whole iterations."""
    res = cfg.resolution(stage)
    pos = Position(stage=stage, alpha=1.0 if stage == 0 else 0.5, phase="transition", resolution=res,
                   minibatch=cfg.minibatch[stage], d_steps=1, lr=cfg.lr)
    feed = SyntheticFeed(cfg.minibatch[stage], res, run.env.device)
    weights = LossWeights(cfg.gp_weight, cfg.gp_target, cfg.drift_weight, cfg.aux_weight)
    train_step(state, run, pos, feed, weights)  # warm-up
    sync = torch.cuda.synchronize if run.env.device.type == "cuda" else (lambda: None)
    sync()
    t0, n = time.perf_counter(), 0
    while True:
        train_step(state, run, pos, feed, weights)
        n += 1
        sync()
        dt = time.perf_counter() - t0
        if dt >= seconds or (n >= 1 and dt > 4 * seconds):
            break
    return {"stage": stage, "resolution": f"{res[0]}x{res[1]}", "minibatch": cfg.minibatch[stage],
            "img_per_s": n * cfg.minibatch[stage] / dt, "ms_per_iter": 1000 * dt / n, "iters": n}


def bench_network(name: str, cfg: TrainConfig, device: str, max_stage: int, seconds: float) -> list[dict[str, float]]:
    """Return one row per stage up to `max_stage` for the named network."""
    env = ddp.DistEnv(rank=0, world_size=1, local_rank=0, device=ddp.pick_device(device))
    run = RunContext(cfg=cfg, out=Path("."), dataset=Path("."), dataset_hash="", reduction=1, env=env)
    state = build_state(run, resume=False)
    rows = []
    for stage in range(min(max_stage, cfg.n_stages - 1) + 1):
        row = measure_stage(cfg, state, run, stage, seconds)
        print(f"{name:6s} {row['resolution']:>9s}  {row['img_per_s']:9.1f} img/s  ({row['ms_per_iter']:.0f} ms/iter)")
        rows.append({"network": name, **row})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--seconds", type=float, default=4.0, help="timed seconds per stage")
    ap.add_argument("--paper-max-stage", type=int, default=4, help="last paper stage measured on CPU")
    ap.add_argument("--paper-cpu-minibatch", type=int, default=8,
                    help="paper minibatch on CPU (the preset's 512..32 global batch is for 8 GPUs)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    demo = with_overrides(preset("demo"), device=args.device)
    paper = with_overrides(preset("paper"), device=args.device)
    paper_max = 8 if args.device == "cuda" else args.paper_max_stage
    if args.device == "cpu":
        paper = with_overrides(paper, minibatch=(args.paper_cpu_minibatch,) * paper.n_stages)
    rows = bench_network("demo", demo, args.device, demo.n_stages - 1, args.seconds)
    rows += bench_network("paper", paper, args.device, paper_max, args.seconds)
    meta = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
            "cpu": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}
    REPORT_DIR.mkdir(exist_ok=True)
    suffix = "" if args.device == "cpu" else f"_{args.device}"
    (REPORT_DIR / f"train_throughput{suffix}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"# Training throughput ({args.device}, torch {meta['torch']}, {meta['threads']} threads)", "",
             f"{meta['cpu_count']} CPUs, 1-minute load average {meta['load_average_1min']} at the end of the run "
             "(a load above the CPU count means the CPUs were shared with other jobs and the numbers are "
             "pessimistic). One iteration = one D step with gradient penalty + one G step + EMA, at alpha 0.5 "
             "after the first stage. Reference: the paper's run showed 15M images in 52 h on 8 V100, about "
             "80 img/s over the whole schedule. GPU: unmeasured here (no GPU machine was available).", "",
             "| network | stage | resolution | minibatch | img/s | ms / iteration |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['network']} | {r['stage']} | {r['resolution']} | {r['minibatch']} | {r['img_per_s']:.1f} | "
              f"{r['ms_per_iter']:.0f} |" for r in rows]
    (REPORT_DIR / f"train_throughput{suffix}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
