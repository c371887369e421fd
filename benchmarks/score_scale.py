"""Benchmark: what scoring costs as the number of images N grows, per stage, with 1 and 2 workers.

Measures, at 320x256 and 1280x1024, wall time, CPU time (this process and its workers) and peak
resident memory (this process; the largest worker) of each stage, every measurement in a fresh
subprocess so that peaks do not leak from one to the next:

- decode: reading a prepared set (16-bit PNG) batch by batch;
- features: the 70-d offline features (in the scoring process);
- swd_descriptors: SWD's Laplacian-pyramid descriptors (in the scoring process);
- qa: the QA scan (`scan_image_set`, `workers` processes);
- score_cold / score_warm: `score_images` as `mammoeval score` runs it (default metric suite and
  QA, real side computed and cached, then a second generated set against the cached real side),
  `workers` processes;
- nn_search: the memorization nearest-neighbour search and PRDC's pairwise distances at several N
  (synthetic vectors of the real sizes; these two are quadratic in N, so they are fitted as
  a + b N^2, not linearly).

N images are a small phantom set repeated (ids made unique): the per-image cost is that of a real
image of that size. Measured points are fitted with t = a + b N (least squares) and the fit is
used to project N = 256 .. 10000 where those were not run; the report marks every number as
measured or projected. Every measurement is appended to reports/score_scale.raw.jsonl and the
report is built from all of them (the newest per stage, size, N and workers), so runs with other
flags add to one report. `--torchrun` also scores two phantom folders in one process and under
`torchrun --nproc_per_node 2` (gloo). Results: reports/score_scale.json and reports/score_scale.md.

    python benchmarks/score_scale.py                    # default: bounded (minutes on 2 cores)
    python benchmarks/score_scale.py --n 64,128,256,512 --n-full 16,32,64 --torchrun
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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parents[1] / "reports"
WORK = Path(os.environ.get("MAMMOEVAL_BENCH_DIR", "/tmp/mammoeval-bench-scale"))
BASE_N = 16
STAGES = ("decode", "features", "swd_descriptors", "qa", "score")
PROJECT_N = (256, 1000, 10000)
TORCHRUN_METRICS = "fid_offline,prdc_offline,memorization"


# --- one measurement (runs in its own subprocess) ---------------------------------------------------


class RepeatedImageSet:
    """`ImageSet` of the first `n` images of `base` repeated cyclically (ids and hash made unique)."""

    def __init__(self, base: Any, n: int, tag: str) -> None:
        self._base, self._n, self.name = base, n, f"{base.name}x{n}-{tag}"

    def __len__(self) -> int:
        return self._n

    @property
    def size(self) -> tuple[int, int]:
        return self._base.size

    @property
    def content_hash(self) -> str:
        from mammoeval.core.fsutil import sha256_strings

        return sha256_strings([self._base.content_hash, self.name])

    def view_labels(self) -> Any:
        import torch

        v = self._base.view_labels()
        return torch.cat([v] * (-(-self._n // len(v))))[: self._n]

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[Any]:
        from mammoeval.data.imageset import ImageBatch

        done, rep = 0, 0
        while done < self._n:
            for b in self._base.iter_batches(batch_size, reduction=reduction):
                k = min(len(b.ids), self._n - done)
                if k <= 0:
                    break
                yield ImageBatch(b.images[:k], b.views[:k], [f"r{rep}-{i}" for i in b.ids[:k]])
                done += k
            rep += 1


def _usage(pool: Any = None) -> dict[str, float]:
    """Return CPU seconds and peak RSS of this process, its waited-for children and `pool`'s live workers.

    Pool workers are children of the forkserver, not of this process, so `RUSAGE_CHILDREN` misses
    them: their CPU time and peak RSS (VmHWM) are read from /proc while they run.
    """
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    main_cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    peak_child = 0.0  # only pool workers count (RUSAGE_CHILDREN's peak also reflects the pre-exec fork)
    tick = os.sysconf("SC_CLK_TCK")
    workers: dict[int, float] = {}
    for pid in (pool.worker_pids() if pool is not None else []):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            workers[pid] = (int(fields[11]) + int(fields[12])) / tick
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_child = max(peak_child, int(line.split()[1]) / 1024)
        except (OSError, IndexError, ValueError):
            pass
    return {"cpu_s": main_cpu + sum(workers.values()), "main_cpu_s": main_cpu, "worker_cpu_s": workers,
            "rss_self_mb": me.ru_maxrss / 1024, "rss_child_mb": peak_child}


def _warm_imports() -> None:
    """Import what every stage uses, so that import time is not measured."""
    import mammoeval.metrics.offline  # noqa: F401
    import mammoeval.metrics.suite  # noqa: F401
    import mammoeval.metrics.swd  # noqa: F401
    import mammoeval.qa.scan  # noqa: F401
    import mammoeval.score.run  # noqa: F401


def run_one(stage: str, size: str, n: int, workers: int) -> dict[str, Any]:
    """Measure one stage on N images of one size with `workers` processes; return its numbers."""
    import torch

    from mammoeval.core.pool import WorkerPool
    from mammoeval.data.open import open_image_set
    from mammoeval.score.run import POOL_PRELOAD

    _warm_imports()
    real = RepeatedImageSet(open_image_set(WORK / f"real-{size}"), n, "real")
    fake = RepeatedImageSet(open_image_set(WORK / f"fake-{size}"), n, "fake")
    pool = WorkerPool(workers, preload=POOL_PRELOAD)
    t0 = time.perf_counter()
    pool.start()
    extra: dict[str, Any] = {"pool_start_s": round(time.perf_counter() - t0, 3)}
    if stage == "qa":  # each worker's first checks pay its lazy imports once per pool: timed apart
        from mammoeval.qa.scan import scan_image_set

        t0 = time.perf_counter()
        scan_image_set(RepeatedImageSet(open_image_set(WORK / f"fake-{size}"), 2 * max(1, workers), "warm"),
                       progress=False, pool=pool)
        extra["warm_up_s"] = round(time.perf_counter() - t0, 3)
    u0, t0 = _usage(pool), time.perf_counter()
    if stage == "decode":
        for _ in fake.iter_batches(16):
            pass
    elif stage == "features":
        from mammoeval.metrics.offline import OfflineExtractor

        ex = OfflineExtractor()
        for b in fake.iter_batches(16):
            ex.extract(b.images)
    elif stage == "swd_descriptors":
        from mammoeval.metrics.swd import SWDMetric

        swd = SWDMetric()
        for b in fake.iter_batches(16):
            swd.update(b, real=False)
    elif stage == "qa":
        from mammoeval.qa.scan import scan_image_set

        scan_image_set(fake, progress=False, pool=pool)
    elif stage == "score":
        extra.update(_score_cold_warm(real, fake, n, size, pool))
    else:
        raise SystemExit(f"unknown stage {stage}")
    wall = time.perf_counter() - t0
    u1 = _usage(pool)
    pool.close()
    per_process = [u1["main_cpu_s"] - u0["main_cpu_s"]] + [
        c - u0["worker_cpu_s"].get(pid, 0.0) for pid, c in u1["worker_cpu_s"].items()]
    cpu = sum(per_process)
    # The wall time on `cores` dedicated cores cannot be below the busiest process's CPU time nor
    # below the total CPU time spread over the cores: the "CPU-time-based" wall estimate.
    cores = len(os.sched_getaffinity(0))
    return {"stage": stage, "size": size, "n": n, "workers": workers, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "cpu_per_process_s": [round(c, 3) for c in per_process],
            "dedicated_wall_estimate_s": round(max(max(per_process), cpu / cores), 3), "peak_rss_mb": round(u1["rss_self_mb"], 1),
            "peak_rss_worker_mb": round(u1["rss_child_mb"], 1), "torch_threads": torch.get_num_threads(), **extra}


def _score_cold_warm(real: Any, fake: Any, n: int, size: str, pool: Any) -> dict[str, Any]:
    """Score `fake` against `real` with an empty cache, then a second generated set against the cached real side."""
    import warnings

    from mammoeval.data.open import open_image_set
    from mammoeval.score.run import default_backends, score_images
    from mammoeval.score.settings import ScoreSettings

    cache = WORK / f"cache-{size}-{n}-{pool.workers}"
    shutil.rmtree(cache, ignore_errors=True)
    settings = ScoreSettings(workers=pool.workers)
    backends = default_backends()
    fake2 = RepeatedImageSet(open_image_set(WORK / f"real-{size}"), n, "fake2")
    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, f in (("cold", fake), ("warm", fake2)):
            t0 = time.perf_counter()
            measured, _ = score_images(real, f, settings=settings, backends=backends,
                                       metrics=backends.default_metrics, cache_dir=cache, progress=False, pool=pool)
            out[f"{label}_s"] = round(time.perf_counter() - t0, 3)
            out[f"{label}_timing"] = measured["timing"]
    shutil.rmtree(cache, ignore_errors=True)
    return out


def run_nn_search(ns: list[int]) -> list[dict[str, Any]]:
    """Time the memorization nearest-neighbour search (64-px pixel vectors) and PRDC (70-d) at each N."""
    import torch

    from mammoeval.metrics.memorization import nearest
    from mammoeval.metrics.prdc import compute_prdc_indicators

    out = []
    g = torch.Generator().manual_seed(0)
    for n in ns:
        pix = torch.rand(n, 64 * 51, generator=g).to(torch.float16)
        t0 = time.perf_counter()
        nearest(pix, pix, exclude_self=True)
        t_nn = time.perf_counter() - t0
        feats = torch.randn(n, 70, generator=g, dtype=torch.float64)
        t0 = time.perf_counter()
        compute_prdc_indicators(feats, feats.flip(0) + 0.1, k_pr=3, k_dc=5)
        out.append({"n": n, "nearest_s": round(t_nn, 3), "prdc_s": round(time.perf_counter() - t0, 3)})
    return out


# --- the driver -----------------------------------------------------------------------------------


def ensure_phantoms(sizes: list[str]) -> None:
    from mammoeval.data.phantom import FindingsConfig, write_phantom_dataset

    for size in sizes:
        h, w = (int(v) for v in size.split("x"))
        for role, seed in (("real", 0), ("fake", 1)):
            write_phantom_dataset(WORK / f"{role}-{size}", n=BASE_N, size=(h, w), seed=seed,
                                  findings=FindingsConfig(), progress=False, workers=2)


def measure(stage: str, size: str, n: int, workers: int) -> dict[str, Any]:
    """Run one measurement in a fresh subprocess; return its JSON."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    res = subprocess.run([sys.executable, __file__, "--one", stage, size, str(n), str(workers)],
                         capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{stage} {size} N={n} workers={workers} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one measurement (the raw log: later runs add to it, the report reads all of it)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")


def read_raw(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """Return (stage measurements, nn timings, torchrun comparison) of the raw log, the newest per key."""
    stages: dict[tuple[Any, ...], dict[str, Any]] = {}
    nn: dict[int, dict[str, Any]] = {}
    dist = None
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        r = json.loads(line)
        kind = r.pop("kind")
        if kind == "stage":
            stages[(r["stage"], r["size"], r["n"], r["workers"])] = r
        elif kind == "nn":
            nn[r["n"]] = r
        else:
            dist = r
    return [stages[k] for k in sorted(stages)], [nn[k] for k in sorted(nn)], dist


def fit_linear(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Return (a, b) of the least-squares line t = a + b n through `points` (n, t); b only for one point."""
    import numpy as np

    n = np.array([p[0] for p in points], dtype=float)
    t = np.array([p[1] for p in points], dtype=float)
    if len(points) == 1:
        return 0.0, float(t[0] / n[0])
    b, a = np.polyfit(n, t, 1)
    return float(a), float(b)


def run_torchrun(size: str, n: int) -> dict[str, Any]:
    """Score two phantom folders of `n` images in one process (1 and 2 workers) and under torchrun with 2 ranks."""
    from mammoeval.data.phantom import FindingsConfig, write_phantom_dataset

    h, w = (int(v) for v in size.split("x"))
    dirs = {}
    for role, seed in (("real", 10), ("fake", 11)):
        dirs[role] = WORK / f"dist-{role}-{size}-{n}"
        write_phantom_dataset(dirs[role], n=n, size=(h, w), seed=seed, findings=FindingsConfig(), progress=False,
                              workers=2)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    # A light metric set (the per-image work the ranks share is the QA and the features; SWD and
    # MS-SSIM statistics stay on rank 0 either way), so that three runs fit in minutes.
    base = ["score", "--real", str(dirs["real"]), "--fake", str(dirs["fake"]), "--no-progress", "--json",
            "--metrics", TORCHRUN_METRICS, "--n-bootstrap", "20"]
    runs = {"1 process, 1 worker": [sys.executable, "-m", "mammoeval", *base, "--workers", "1"],
            "1 process, 2 workers": [sys.executable, "-m", "mammoeval", *base, "--workers", "2"],
            "torchrun, 2 ranks (gloo)": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                         "-m", "mammoeval", *base]}
    out: dict[str, Any] = {"size": size, "n": n, "runs": {}}
    for label, cmd in runs.items():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run([*cmd, "--out", str(WORK / f"dist-{label[:9].replace(' ', '')}.json")],
                             capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            raise SystemExit(f"{label} failed:\n{res.stderr[-3000:]}")
        out["runs"][label] = {"wall_s": round(wall, 2), "cpu_s": round(after.ru_utime + after.ru_stime
                                                                       - before.ru_utime - before.ru_stime, 2),
                              "peak_rss_mb_largest_process": round(after.ru_maxrss / 1024, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=4, metavar=("STAGE", "SIZE", "N", "WORKERS"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="320x256,1280x1024")
    ap.add_argument("--n", default="32,64,128", help="N measured at 320x256.")
    ap.add_argument("--n-full", default="8,16,32", help="N measured at 1280x1024.")
    ap.add_argument("--score-n", default="32,64", help="N of the whole-score stage at 320x256.")
    ap.add_argument("--score-n-full", default="8,16", help="N of the whole-score stage at 1280x1024.")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--nn", default="1000,2000,3000", help="N for the nearest-neighbour / PRDC timing.")
    ap.add_argument("--torchrun", action="store_true", help="Also compare one process with torchrun (2 ranks).")
    ap.add_argument("--torchrun-n", type=int, default=32)
    ap.add_argument("--note", default="", help="Machine conditions, written into the report.")
    args = ap.parse_args()
    if args.one:
        stage, size, n, workers = args.one
        print(json.dumps(run_one(stage, size, int(n), int(workers))))
        return
    sizes = [v for v in args.sizes.split(",") if v]
    ensure_phantoms(sizes)
    workers = [int(w) for w in args.workers.split(",")]
    score_n = {size: [int(v) for v in (args.score_n if size == "320x256" else args.score_n_full).split(",") if v]
               for size in sizes}
    t_start = time.perf_counter()
    raw = REPORTS / "score_scale.raw.jsonl"
    REPORTS.mkdir(exist_ok=True)
    for size in sizes:
        ns = [int(v) for v in (args.n if size == "320x256" else args.n_full).split(",") if v]
        for stage in [v for v in args.stages.split(",") if v]:
            per_worker = workers if stage in ("qa", "score") else [1]
            for w in per_worker:
                for n in (score_n[size] if stage == "score" else ns):
                    r = measure(stage, size, n, w)
                    print(json.dumps(r), flush=True)
                    append_jsonl(raw, {"kind": "stage", **r})
    if args.nn:
        for p in run_nn_search([int(v) for v in args.nn.split(",")]):
            append_jsonl(raw, {"kind": "nn", **p})
    if args.torchrun:
        append_jsonl(raw, {"kind": "torchrun", **run_torchrun("320x256", args.torchrun_n)})
    results, nn, dist = read_raw(raw)
    report = build_report(results, nn, dist, note=args.note, total_s=time.perf_counter() - t_start)
    from mammoeval.core.fsutil import write_json_atomic, write_text_atomic

    write_json_atomic(REPORTS / "score_scale.json", report)
    write_text_atomic(REPORTS / "score_scale.md", render_markdown(report))
    print(render_markdown(report))


def _series(results: list[dict[str, Any]], stage: str, size: str, workers: int, key: str) -> list[tuple[float, float]]:
    return [(r["n"], r[key]) for r in results if r["stage"] == stage and r["size"] == size and r["workers"] == workers]


def build_report(results: list[dict[str, Any]], nn: list[dict[str, Any]], dist: dict[str, Any] | None, *,
                 note: str, total_s: float) -> dict[str, Any]:
    """Return the JSON report: measurements, linear fits, projections (marked) and speedups."""
    import torch

    fits: list[dict[str, Any]] = []
    keys = sorted({(r["stage"], r["size"], r["workers"]) for r in results})
    for stage, size, w in keys:
        for metric, key in (("wall", "warm_s" if stage == "score" else "wall_s"), ("cpu", "cpu_s")):
            if stage == "score" and metric == "cpu":
                continue
            pts = _series(results, stage, size, w, key)
            a, b = fit_linear(pts)
            measured_n = {int(n) for n, _ in pts}
            # A slope that noise made non-positive (N range too narrow for the fixed costs) projects nothing.
            proj = {str(n): {"seconds": round(a + b * n, 1) if b > 0 or n in measured_n else None,
                             "measured": n in measured_n} for n in PROJECT_N}
            fits.append({"stage": stage, "size": size, "workers": w, "of": metric, "intercept_s": round(a, 3),
                         "s_per_image": round(b, 5), "images_per_s": round(1 / b, 2) if b > 0 else None,
                         "measured_n": sorted(measured_n), "projected": proj})
        if stage == "score":
            pts = _series(results, stage, size, w, "cold_s")
            a, b = fit_linear(pts)
            fits.append({"stage": "score_cold", "size": size, "workers": w, "of": "wall", "intercept_s": round(a, 3),
                         "s_per_image": round(b, 5), "images_per_s": round(1 / b, 2) if b > 0 else None,
                         "measured_n": sorted(int(n) for n, _ in pts),
                         "projected": {str(n): {"seconds": round(a + b * n, 1) if b > 0 else None, "measured": False}
                                       for n in PROJECT_N}})
    nn_fit = {}
    if len(nn) >= 2:
        import numpy as np

        for key in ("nearest_s", "prdc_s"):
            n2 = np.array([p["n"] ** 2 for p in nn], dtype=float)
            t = np.array([p[key] for p in nn])
            b, a = np.polyfit(n2, t, 1)
            nn_fit[key] = {"intercept_s": float(a), "s_per_n2": float(b),
                           "projected_10000_s": round(float(a + b * 1e8), 1)}
    return {"measurements": results, "fits": fits, "nn_search": {"measured": nn, "quadratic_fit": nn_fit},
            "torchrun": dist, "total_benchmark_s": round(total_s, 1), "note": note,
            "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                        "platform": platform.platform(), "torch": torch.__version__,
                        "load_average": os.getloadavg()}}


def _fit(report: dict[str, Any], stage: str, size: str, workers: int, of: str = "wall") -> dict[str, Any] | None:
    return next((f for f in report["fits"] if f["stage"] == stage and f["size"] == size and f["workers"] == workers
                 and f["of"] == of), None)


def render_markdown(report: dict[str, Any]) -> str:
    """Return the Markdown report."""
    m = report["machine"]
    lines = ["# Scoring at scale", "",
             f"Machine: {m['affinity']} cores, torch {m['torch']}, load average at the end "
             f"{', '.join(f'{x:.1f}' for x in m['load_average'])}. {report['note']}", "",
             "Every measurement ran in a fresh process; N images are a 16-phantom set repeated. "
             "Measured points are fitted with t = a + b N; *italic* numbers are projections from that fit, "
             "plain ones were measured. CPU time = this process plus its worker processes. On a shared "
             "machine wall times depend on the other jobs; the CPU-time-based speedup compares "
             "max(busiest process's CPU time, total CPU time / cores), i.e. the wall time the same work "
             "needs on dedicated cores.", "",
             "## Per stage: images per second (linear fit over the measured N) and peak memory", "",
             "| stage | size | workers | measured N | wall img/s | CPU s/img | peak RSS MiB (main / largest worker) |",
             "|---|---|---:|---|---:|---:|---|"]
    for f in report["fits"]:
        if f["of"] != "wall":
            continue
        cpu = _fit(report, f["stage"], f["size"], f["workers"], "cpu")
        peaks = [(r["peak_rss_mb"], r["peak_rss_worker_mb"]) for r in report["measurements"]
                 if r["stage"] == f["stage"].replace("_cold", "") and r["size"] == f["size"]
                 and r["workers"] == f["workers"]]
        peak = " / ".join(", ".join(f"{p[i]:.0f}" for p in peaks) for i in (0, 1))
        lines.append(f"| {f['stage'].replace('score', 'score_warm') if f['stage'] == 'score' else f['stage']} "
                     f"| {f['size']} | {f['workers']} | {', '.join(map(str, f['measured_n']))} | "
                     f"{f['images_per_s'] or '-'} | {cpu['s_per_image'] if cpu else '-'} | {peak} |")
    lines += ["", "Peak memory per N is listed in measured-N order: it must not grow with N (bounded streaming).", "",
              "## Speedup of 2 workers over 1 (same N, measured)", "",
              "| stage | size | N | wall 1 / 2 workers (s) | wall speedup | CPU 1 / 2 workers (s) | "
              "CPU-time-based speedup |", "|---|---|---:|---|---:|---|---:|"]
    for r1 in report["measurements"]:
        if r1["workers"] != 1 or r1["stage"] not in ("qa", "score"):
            continue
        r2 = next((r for r in report["measurements"] if r["stage"] == r1["stage"] and r["size"] == r1["size"]
                   and r["n"] == r1["n"] and r["workers"] == 2), None)
        if r2 is None:
            continue
        for label, key in ((r1["stage"], "wall_s"),) if r1["stage"] == "qa" else (("score_cold", "cold_s"),
                                                                                   ("score_warm", "warm_s")):
            est = (f"{r1['dedicated_wall_estimate_s'] / r2['dedicated_wall_estimate_s']:.2f}x"
                   if r1.get("dedicated_wall_estimate_s") and r2.get("dedicated_wall_estimate_s") else "-")
            lines.append(f"| {label} | {r1['size']} | {r1['n']} | {r1[key]} / {r2[key]} | "
                         f"{r1[key] / r2[key]:.2f}x | {r1['cpu_s']} / {r2['cpu_s']} | {est} |")
    lines += ["", "## Cost of one checkpoint against a cached real side (score_warm; metrics suite + QA)", "",
              "| size | workers | " + " | ".join(f"N={n}" for n in PROJECT_N) + " |", "|---|---:|" + "---:|" * len(PROJECT_N)]
    if not any(f["stage"] == "score" for f in report["fits"]):
        lines += ["", "Not measured in this run (`--stages score`); docs/scale.md projects it from the per-image "
                      "CPU times above and the fixed costs of the suite."]
    for f in report["fits"]:
        if f["stage"] == "score" and f["of"] == "wall":
            cells = [("n/a" if v["seconds"] is None else f"{v['seconds'] / 60:.1f} min" if v["measured"]
                      else f"*{v['seconds'] / 60:.1f} min*") for v in f["projected"].values()]
            lines.append(f"| {f['size']} | {f['workers']} | " + " | ".join(cells) + " |")
    if any(v["seconds"] is None for f in report["fits"] if f["stage"] == "score" for v in f["projected"].values()):
        lines += ["", "n/a: the measured N are too close for the per-image cost to show above the fixed costs "
                      "(MS-SSIM's fixed pair count, calibration, floors); measure a wider N range."]
    nn = report["nn_search"]
    if nn["measured"]:
        lines += ["", "## Quadratic parts (synthetic vectors)", "",
                  "| N | memorization nearest neighbours (s) | PRDC pairwise (s) |", "|---:|---:|---:|"]
        lines += [f"| {p['n']} | {p['nearest_s']} | {p['prdc_s']} |" for p in nn["measured"]]
        q = nn["quadratic_fit"]
        if q:
            lines += ["", f"Fitted a + b N^2, projected to N = 10000: nearest neighbours "
                          f"*{q['nearest_s']['projected_10000_s']} s*, PRDC *{q['prdc_s']['projected_10000_s']} s* "
                          "(not in the linear projections above; PRDC is capped at 10000 images per set)."]
    if report["torchrun"]:
        d = report["torchrun"]
        lines += ["", f"## One process vs torchrun (folder mode, {d['n']} + {d['n']} phantoms at {d['size']}, "
                      f"metrics {TORCHRUN_METRICS} and QA, measured)",
                  "", "| how | wall s | CPU s | peak RSS MiB (largest process) |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['wall_s']} | {v['cpu_s']} | {v['peak_rss_mb_largest_process']} |"
                  for k, v in d["runs"].items()]
        lines += ["", "CPU here is what the launched command's waited-for processes used: both torchrun ranks, "
                      "but not the pool workers of the 2-worker run (children of the forkserver)."]
    lines += ["", "GPU (`--device cuda`): not measured (no GPU was available to this benchmark).",
              f"Total benchmark time: {report['total_benchmark_s']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
