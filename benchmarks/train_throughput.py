"""Training throughput (images shown per second) and peak memory per stage, `demo` and `paper`
networks, with the projected time of the paper's 20 M images.

Runs real training iterations (one D step with gradient penalty + one G step + EMA) on
synthetic reals, at alpha 0.5 for every stage after the first (the fade path is the costlier
one). Each (network, stage, option set) runs in its own subprocess so that its peak memory is its
own: peak RSS on the CPU (includes the Python and torch runtime), peak allocated memory on CUDA.
Writes reports/train_throughput[_cuda].json and .md.

    python benchmarks/train_throughput.py                                  # CPU: demo all stages, paper all 9 at batch 1
    python benchmarks/train_throughput.py --device cuda --matrix           # GPU: fp32 / TF32 / bf16 x channels-last
    python benchmarks/train_throughput.py --device cuda --tf32 --channels-last --extra-stage
    options: --networks demo,paper  --stages 0-8  --batch N  --seconds S  --threads N  --extra-stage (2560x2048)

Projection: the paper's schedule (600 kimg fade-in + 600 kimg stable per stage, 1280x1024 until
20000 kimg) divided by the measured img/s of each stage at the measured minibatch; with the
preset's minibatch on a GPU this is the single-device wall time, on the CPU at batch 1 it only
shows the order of magnitude.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from mammoeval.core import ddp
from mammoeval_train.config import TrainConfig, preset, with_overrides
from mammoeval_train.loop import RunContext, build_state, train_step
from mammoeval_train.loss import LossWeights
from mammoeval_train.schedule import Position, phase_lengths

REPORT_DIR = Path(__file__).resolve().parents[1] / "reports"
PAPER_TOTAL_KIMG = 20000.0
PAPER_REFERENCE_IMG_S = 80.0
"""Korkinof et al.: 15 M images in about 52 h on 8 V100 GPUs (~80 img/s over the whole schedule)."""


class SyntheticFeed:
    """Random reals in [-1, 1] with alternating views, standing in for RealFeed."""

    def __init__(self, batch: int, size: tuple[int, int], device: torch.device, channels_last: bool) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(batch, 1, *size, generator=g) * 2 - 1
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.x = x.to(device).contiguous(memory_format=fmt)
        self.v = (torch.arange(batch) % 2).to(device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.v

    def sample_views(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, 2, (n,), generator=gen).to(self.v.device)


def network_config(name: str, *, device: str, size: tuple[int, int], batch: int | None, bf16: bool,
                   channels_last: bool) -> TrainConfig:
    """Return the named preset at `size` (a larger size adds stages), minibatch `batch` when given."""
    cfg = preset(name)
    n_stages = int(round(torch.log2(torch.tensor(size[0] / cfg.base[0])).item())) + 1
    mb = tuple(batch for _ in range(n_stages)) if batch else (cfg.minibatch + (cfg.minibatch[-1],) * n_stages)[:n_stages]
    return with_overrides(cfg, size=size, minibatch=mb, device=device, precision="bf16" if bf16 else "fp32",
                          channels_last=channels_last)


def measure_stage(cfg: TrainConfig, stage: int, seconds: float) -> dict[str, Any]:
    """Return img/s, ms per iteration and peak memory of `stage` (this process), timing whole iterations."""
    env = ddp.DistEnv(rank=0, world_size=1, local_rank=0, device=ddp.pick_device(cfg.device))
    run = RunContext(cfg=cfg, out=Path("."), dataset=Path("."), dataset_hash="", reduction=1, env=env)
    state = build_state(run, resume=False)
    res = cfg.resolution(stage)
    pos = Position(stage=stage, alpha=1.0 if stage == 0 else 0.5, phase="transition", resolution=res,
                   minibatch=cfg.minibatch[stage], d_steps=1, lr=cfg.lr)
    feed = SyntheticFeed(cfg.minibatch[stage], res, env.device, cfg.channels_last)
    weights = LossWeights(cfg.gp_weight, cfg.gp_target, cfg.drift_weight, cfg.aux_weight)
    cuda = env.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t_first = time.perf_counter()
    train_step(state, run, pos, feed, weights)  # type: ignore[arg-type]  # warm-up
    if cuda:
        torch.cuda.synchronize()
    first_s = time.perf_counter() - t_first
    t0, n = time.perf_counter(), 0
    while True:
        train_step(state, run, pos, feed, weights)  # type: ignore[arg-type]
        n += 1
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if dt >= seconds:
            break
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"stage": stage, "resolution": f"{res[0]}x{res[1]}", "channels": cfg.channels(stage),
            "minibatch": cfg.minibatch[stage], "img_per_s": n * cfg.minibatch[stage] / dt, "ms_per_iter": 1000 * dt / n,
            "iters": n, "first_iter_s": first_s, "peak_mib": peak, "peak_kind": "cuda_allocated" if cuda else "cpu_rss"}


def project_paper_hours(rows: list[dict[str, Any]]) -> float | None:
    """Return hours for PAPER_TOTAL_KIMG on the paper schedule at the measured img/s (None: a stage is missing)."""
    cfg = preset("paper")
    by_stage = {r["stage"]: r["img_per_s"] for r in rows}
    if any(s not in by_stage for s in range(cfg.n_stages)):
        return None
    seconds, start = 0.0, 0.0
    for s in range(cfg.n_stages):
        trans, stable = phase_lengths(cfg, s)
        span = (PAPER_TOTAL_KIMG - start) if s == cfg.n_stages - 1 else trans + stable
        seconds += span * 1000 / by_stage[s]
        start += trans + stable
    return seconds / 3600


def run_one(args: argparse.Namespace) -> None:
    """Measure one (network, stage, options) in this process and print its row as JSON."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32  # TF32: faster matmul/conv on Ampere+, ~1e-3 rel. error
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    size = (2560, 2048) if args.extra_stage else preset(args.one).size
    if args.one == "demo":
        size = preset("demo").size
    cfg = network_config(args.one, device=args.device, size=size, batch=args.batch, bf16=args.bf16,
                         channels_last=args.channels_last)
    row = measure_stage(cfg, args.stage, args.seconds)
    row.update(network=args.one, tf32=args.tf32, bf16=args.bf16, channels_last=args.channels_last)
    print("ROW " + json.dumps(row), flush=True)


def _stages(spec: str, n: int) -> list[int]:
    if spec == "all":
        return list(range(n))
    a, _, b = spec.partition("-")
    return list(range(int(a), int(b or a) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--networks", default="demo,paper")
    ap.add_argument("--stages", default="all", help="paper stages: all, N or A-B")
    ap.add_argument("--batch", type=int, default=None, help="minibatch of every stage (default: cpu 1 for paper, "
                    "the preset's for demo and on cuda)")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per stage after one warm-up iteration")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--matrix", action="store_true", help="cuda: fp32, tf32, bf16, each with and without channels-last")
    ap.add_argument("--extra-stage", action="store_true", help="paper: also the 2560x2048 stage (size 2560x2048)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per stage subprocess")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--stage", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(args)
        return
    combos = [(False, False, False)]
    if args.matrix:
        combos = [(tf32, bf16, cl) for tf32, bf16 in ((False, False), (True, False), (False, True)) for cl in (False, True)]
    elif args.tf32 or args.bf16 or args.channels_last:
        combos = [(args.tf32, args.bf16, args.channels_last)]
    rows: list[dict[str, Any]] = []
    for net in args.networks.split(","):
        n = preset(net).n_stages + (1 if net == "paper" and args.extra_stage else 0)
        stages = list(range(preset(net).n_stages)) if net == "demo" else _stages(args.stages, n)
        if net == "paper" and args.extra_stage and n - 1 not in stages:
            stages.append(n - 1)
        batch = args.batch if args.batch else (1 if net == "paper" and args.device == "cpu" else None)
        for tf32, bf16, cl in combos:
            for s in stages:
                cmd = [sys.executable, __file__, "--one", net, "--stage", str(s), "--device", args.device,
                       "--seconds", str(args.seconds)]
                cmd += ["--batch", str(batch)] if batch else []
                cmd += ["--threads", str(args.threads)] if args.threads else []
                cmd += [f for f, on in (("--tf32", tf32), ("--bf16", bf16), ("--channels-last", cl)) if on]
                cmd += ["--extra-stage"] if net == "paper" and args.extra_stage else []
                try:
                    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                    line = next((x for x in out.stdout.splitlines() if x.startswith("ROW ")), None)
                    row = json.loads(line[4:]) if line else {"network": net, "stage": s, "error": out.stderr.strip().splitlines()[-1:]}
                except subprocess.TimeoutExpired:
                    row = {"network": net, "stage": s, "error": f"timeout after {args.timeout:.0f} s"}
                print(json.dumps(row), flush=True)
                rows.append(row)
    write_report(args, rows)


def write_report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Write reports/train_throughput[_cuda].json and .md."""
    ok = [r for r in rows if "img_per_s" in r]
    projections = {}
    for key in sorted({(r["tf32"], r["bf16"], r["channels_last"]) for r in ok if r["network"] == "paper"}):
        sel = [r for r in ok if r["network"] == "paper" and (r["tf32"], r["bf16"], r["channels_last"]) == key
               and r["resolution"] != "2560x2048"]
        hours = project_paper_hours(sel)
        projections["tf32={} bf16={} channels_last={}".format(*key)] = hours
    meta = {"device": args.device, "torch": torch.__version__, "threads": args.threads or torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
            "cpu": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            "paper_total_kimg": PAPER_TOTAL_KIMG, "paper_reference_img_per_s": PAPER_REFERENCE_IMG_S,
            "projected_paper_hours": projections}
    REPORT_DIR.mkdir(exist_ok=True)
    suffix = "" if args.device == "cpu" else f"_{args.device}"
    (REPORT_DIR / f"train_throughput{suffix}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"# Training throughput ({args.device}, torch {meta['torch']}, {meta['threads']} threads)", "",
             f"`python {' '.join(['benchmarks/train_throughput.py', *sys.argv[1:]])}`. {meta['cpu_count']} CPUs, "
             f"1-minute load average {meta['load_average_1min']} at the end (above the CPU count = shared with "
             "other jobs: the img/s are pessimistic). One iteration = one D step with gradient penalty + one G "
             "step + EMA, alpha 0.5 after the first stage; each row in its own process. Peak memory: "
             "CPU = process peak RSS (includes ~0.4 GiB of Python/torch runtime), CUDA = peak allocated.", "",
             "| network | stage | resolution | maps | minibatch | tf32 | bf16 | ch-last | img/s | ms / iter | first iter s | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "img_per_s" not in r:
            lines.append(f"| {r['network']} | {r['stage']} | - | - | - | - | - | - | failed: {r.get('error')} | | | |")
            continue
        lines.append(f"| {r['network']} | {r['stage']} | {r['resolution']} | {r['channels']} | {r['minibatch']} | "
                     f"{'y' if r['tf32'] else '-'} | {'y' if r['bf16'] else '-'} | {'y' if r['channels_last'] else '-'} | "
                     f"{r['img_per_s']:.2f} | {r['ms_per_iter']:.0f} | {r['first_iter_s']:.1f} | {r['peak_mib']:.0f} |")
    lines += ["", f"Projected time for the paper's {PAPER_TOTAL_KIMG / 1000:.0f} M images on the paper schedule "
              f"(one device, measured minibatch; reference: ~{PAPER_REFERENCE_IMG_S:.0f} img/s average on 8 V100, "
              "i.e. ~69 h for 20 M):", ""]
    for k, h in projections.items():
        lines.append(f"- {k}: " + (f"{h:,.0f} h ({h / 24:,.1f} days)" if h else "not all stages measured"))
    (REPORT_DIR / f"train_throughput{suffix}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
