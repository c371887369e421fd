"""Time the metrics core on CPU (and GPU where present); write reports/metrics.json and .md.

Measures: SWD (descriptor streaming + the 4x128-direction distance, the part comparable with the
reference code; then the full metric with floor and bootstrap), the NumPy reference SWD of
tests/metrics/swd_reference.py on a few images (per-image time, extrapolated linearly), MS-SSIM
per 1280x1024 pair against pytorch-msssim, the float64 Fréchet distance at 2048-d, and feature
extraction (offline features; Inception structure with constructed weights, same cost as the
real ones). Usage: ``python benchmarks/metrics.py [--threads N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic  # noqa: E402
from mammoeval.data.imageset import ImageBatch  # noqa: E402
from mammoeval.metrics.swd import SWDMetric, SWDSettings  # noqa: E402


def _images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tex = torch.rand(n, 1, h // 8, w // 8, generator=g)
    x = torch.nn.functional.interpolate(tex, size=(h, w), mode="bilinear", align_corners=False)
    return (0.7 * x + 0.3 * torch.rand(n, 1, h, w, generator=g)).clamp(0, 1)


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_swd(n: int, h: int, w: int, device: str, *, repeats: int = 3) -> dict[str, float]:
    """Seconds of SWD streaming, the distance, and the full compute(); the best of `repeats` runs for
    the first two (a shared machine only ever makes a run slower)."""
    real, fake = _images(n, h, w, 1), _images(n, h, w, 2)
    views = torch.zeros(16, dtype=torch.int64)

    def stream(m: SWDMetric) -> None:
        for s in range(0, n, 16):
            ids = [str(i) for i in range(16)]
            m.update(ImageBatch(real[s:s + 16], views, ids), real=True)
            m.update(ImageBatch(fake[s:s + 16], views, ids), real=False)

    t_stream, t_dist = float("inf"), float("inf")
    for _ in range(repeats):
        m = SWDMetric(SWDSettings(n_bootstrap=0), device=device)
        t_stream = min(t_stream, _timed(lambda: stream(m))[0])  # noqa: B023
        t_dist = min(t_dist, _timed(lambda: m._swd_groups(m._view_desc(True, "all"), m._view_desc(False, "all"),  # noqa: B023
                                                            sub_seed=0))[0])
    full = SWDMetric(SWDSettings(n_bootstrap=50), device=device)
    full.load_real_state(m.real_state())
    full._sets[False] = m._sets[False]
    full._size = m._size
    t_full, _ = _timed(full.compute)
    return {"stream_s": t_stream, "distance_s": t_dist, "swd_s": t_stream + t_dist,
            "compute_with_floor_and_50_bootstrap_s": t_full}


def bench_reference_swd(n: int, h: int, w: int) -> float:
    """Seconds of the NumPy reference for n images per set (both sets)."""
    from tests.metrics import swd_reference as ref

    x = _images(2 * n, h, w, 3).double().numpy()
    rng = np.random.default_rng(0)

    def run() -> None:
        n_levels = 0
        hh, ww = h, w
        while min(hh, ww) >= 16:
            n_levels += 1
            hh, ww = (hh + 1) // 2, (ww + 1) // 2
        per_set = []
        for s in range(2):
            levels: list[list[np.ndarray]] = [[] for _ in range(n_levels)]
            for i in range(n):
                for li, lv in enumerate(ref.pyramid(x[s * n + i, 0], n_levels)):
                    ys = rng.integers(3, lv.shape[0] - 3, 128)
                    xs = rng.integers(3, lv.shape[1] - 3, 128)
                    levels[li].append(ref.descriptors(lv, ys, xs, 1))
            per_set.append([ref.normalise(np.concatenate(d), 1) for d in levels])
        for a, b in zip(per_set[0], per_set[1], strict=True):
            dirs = [rng.normal(size=(49, 128)) for _ in range(4)]
            ref.swd(a, b, [d / np.sqrt((d ** 2).sum(0)) for d in dirs])

    t, _ = _timed(run)
    return t


def _reference_swd_value(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> float:
    """Return the bare SWD (x1 raw, averaged over levels) of the NumPy reference on two image sets [n, H, W]."""
    from tests.metrics import swd_reference as ref

    rng = np.random.default_rng(seed)
    h, w = real.shape[1:]
    n_levels, hh, ww = 0, h, w
    while min(hh, ww) >= 16:
        n_levels += 1
        hh, ww = (hh + 1) // 2, (ww + 1) // 2
    per_set = []
    for x in (real, fake):
        levels: list[list[np.ndarray]] = [[] for _ in range(n_levels)]
        for img in x:
            for li, lv in enumerate(ref.pyramid(img, n_levels)):
                ys = rng.integers(3, lv.shape[0] - 3, 128)
                xs = rng.integers(3, lv.shape[1] - 3, 128)
                levels[li].append(ref.descriptors(lv, ys, xs, 1))
        per_set.append([ref.normalise(np.concatenate(d), 1) for d in levels])
    vals = []
    for a, b in zip(per_set[0], per_set[1], strict=True):
        dirs = [rng.normal(size=(49, 128)) for _ in range(4)]
        vals.append(ref.swd(a, b, [d / np.sqrt((d ** 2).sum(0)) for d in dirs]))
    return float(np.mean(vals))


def bench_swd_side_by_side(n: int, h: int, w: int, *, rounds: int = 2) -> dict[str, Any]:
    """Seconds of the NumPy reference's bare SWD value and of our full SWD (streaming, value, matched floors
    over 5 splits, 50-replicate interval) on the same 2 x n images, alternating, best of `rounds` each."""
    from mammoeval.metrics.registry import SWD_MAX_BOOTSTRAP

    real, fake = _images(n, h, w, 1), _images(n, h, w, 2)
    views = torch.zeros(n, dtype=torch.int64)
    ids = [str(i) for i in range(n)]
    t_ref, t_ours, t_bare, t_view = float("inf"), float("inf"), float("inf"), float("inf")
    print(f"side by side: 2x{n} at {h}x{w}, {rounds} round(s)", flush=True)
    ours: dict[str, Any] = {}
    ref_value = float("nan")
    for _ in range(rounds):
        t, ref_value = _timed(lambda: _reference_swd_value(real[:, 0].double().numpy(), fake[:, 0].double().numpy()))
        t_ref = min(t_ref, t)
        print(f"reference bare value: {t:.1f} s", flush=True)

        def full() -> Any:
            m = SWDMetric(SWDSettings(n_bootstrap=SWD_MAX_BOOTSTRAP))
            for s0 in range(0, n, 16):
                m.update(ImageBatch(real[s0:s0 + 16], views[s0:s0 + 16], ids[s0:s0 + 16]), real=True)
                m.update(ImageBatch(fake[s0:s0 + 16], views[s0:s0 + 16], ids[s0:s0 + 16]), real=False)
            return m, m.compute()

        t, (m, per_view) = _timed(full)
        r = per_view["all"]["swd_avg"]
        t_ours = min(t_ours, t)
        print(f"ours full compute: {t:.1f} s", flush=True)
        t_view = min(t_view, _timed(lambda m=m: m._compute_view(m._view_desc(True, "all"),
                                                                m._view_desc(False, "all"), view_index=0))[0])
        t_bare = min(t_bare, _timed(lambda: m._swd_groups(m._view_desc(True, "all"), m._view_desc(False, "all"),  # noqa: B023
                                                          sub_seed=0))[0])
        ours = {"value": r.value, "ci": list(r.ci) if r.ci else None, "floor": r.floor, "floor_sd": r.floor_sd,
                "floor_size": r.floor_size, "ratio": r.ratio}
    agreement = bootstrap_agreement(m._view_desc(True, "all"), m._view_desc(False, "all"),
                                    SWDSettings(n_bootstrap=SWD_MAX_BOOTSTRAP))
    return {"bootstrap_agreement": agreement,
            "images": f"2x{n} at {h}x{w}", "reference_bare_value_s": t_ref, "reference_value": ref_value,
            "ours_full_compute_s": t_ours, "ours_one_view_s": t_view, "ours_bare_distance_s": t_bare,
            "views_computed": sorted(per_view), "speedup": t_ref / t_ours, "ours": ours,
            "n_bootstrap": SWD_MAX_BOOTSTRAP, "floor_splits": SWDSettings().floor_splits}


def bootstrap_agreement(real: list[torch.Tensor], fake: list[torch.Tensor], settings: SWDSettings) -> dict[str, Any]:
    """Per level, how the cell-summary bootstrap replicates agree with the exact ones (same multisets):
    correlation and spread ratio of their deviations from their mean, and seconds of each."""
    from mammoeval.metrics.swd import level_swd_with_subsets, plan_subsets

    plan = plan_subsets(real[0].shape[0], fake[0].shape[0], settings=settings, seed=0)
    rows = []
    for li, (r, f) in enumerate(zip(real, fake, strict=True)):
        t_fast, fast = _timed(lambda r=r, f=f, li=li: level_swd_with_subsets(r, f, plan, settings=settings, dirs_seed=0,
                                                                             level=li).boot)
        t_exact, exact = _timed(lambda r=r, f=f, li=li: level_swd_with_subsets(r, f, plan, settings=settings,
                                                                               dirs_seed=0, level=li,
                                                                               exact_bootstrap=True).boot)
        df, de = fast - fast.mean(), exact - exact.mean()
        rows.append({"level": li, "corr": float(np.corrcoef(df, de)[0, 1]), "spread_ratio": float(df.std() / de.std()),
                     "level_s_cells": t_fast, "level_s_exact": t_exact})
    return {"replicates": len(plan.boot), "levels": rows}


def bench_msssim(device: str) -> dict[str, float]:
    from pytorch_msssim import ms_ssim as ref_ms_ssim

    from mammoeval.metrics.msssim import ms_ssim

    x, y = _images(1, 1280, 1024, 4).to(device), _images(1, 1280, 1024, 5).to(device)
    ms_ssim(x, y)
    ours = min(_timed(lambda: ms_ssim(x, y))[0] for _ in range(3))
    theirs = min(_timed(lambda: ref_ms_ssim(x, y, data_range=1.0))[0] for _ in range(3))
    return {"ours_s_per_pair": ours, "pytorch_msssim_s_per_pair": theirs}


def bench_frechet() -> dict[str, float]:
    from mammoeval.metrics.frechet import features_to_stats, frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4096, 2048)), rng.normal(size=(4096, 2048)) + 0.1
    t_stats, (s1, s2) = _timed(lambda: (features_to_stats(a), features_to_stats(b)))
    t_fd, _ = _timed(lambda: frechet_distance(*s1, *s2))
    return {"stats_2x4096x2048_s": t_stats, "frechet_2048d_s": t_fd}


def bench_features(device: str) -> dict[str, float]:
    import tempfile

    from mammoeval.metrics.inception import InceptionExtractor, build_fid_inception
    from mammoeval.metrics.offline import OfflineExtractor

    out: dict[str, float] = {}
    off = OfflineExtractor(device=device)
    for h, w in ((320, 256), (1280, 1024)):
        x = _images(16, h, w, 6)
        out[f"offline_{h}x{w}_s_per_image"] = _timed(lambda x=x: off.extract(x))[0] / 16
    net = build_fid_inception()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.pth"
        torch.save(net.state_dict(), path)
        inc = InceptionExtractor(path, expected_sha256=None, device=device)
        x = _images(8, 1280, 1024, 7)
        inc.extract(x[:1])
        out["inception_1280x1024_s_per_image"] = _timed(lambda: inc.extract(x))[0] / 8
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--quick", action="store_true", help="fewer images (a smoke run)")
    ap.add_argument("--swd-only", action="store_true",
                    help="only the side-by-side SWD comparison; other rows are kept from reports/metrics.json")
    ap.add_argument("--shared", action="store_true", help="note in the report that other jobs shared the machine")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of the side-by-side SWD comparison")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.swd_only:
        _swd_only(args)
        return
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    res: dict[str, Any] = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
                                       "loadavg_start": os.getloadavg(), "torch": torch.__version__}}
    n_small, n_big = (32, 8) if args.quick else (256, 64)
    for dev in devices:
        res[f"swd_{dev}"] = {f"320x256_2x{n_small}": bench_swd(n_small, 320, 256, dev),
                             f"1280x1024_2x{n_big}": bench_swd(n_big, 1280, 1024, dev)}
        res[f"msssim_{dev}"] = bench_msssim(dev)
        res[f"features_{dev}"] = bench_features(dev)
    ref_small, ref_big = bench_reference_swd(8, 320, 256), bench_reference_swd(2, 1280, 1024)
    res["swd_numpy_reference"] = {
        "320x256_2x8_s": ref_small, f"320x256_2x{n_small}_extrapolated_s": ref_small * n_small / 8,
        "1280x1024_2x2_s": ref_big, f"1280x1024_2x{n_big}_extrapolated_s": ref_big * n_big / 2,
        "published_reference_s": {"1280x1024_2x64": 46.0, "320x256_2x256": 21.0},
    }
    res["frechet"] = bench_frechet()
    res["machine"]["loadavg_end"] = os.getloadavg()
    write_json_atomic(ROOT / "reports" / "metrics.json", res)
    write_text_atomic(ROOT / "reports" / "metrics.md", _markdown(res, n_small, n_big))
    print(_markdown(res, n_small, n_big))


def _swd_only(args: argparse.Namespace) -> None:
    import json

    path = ROOT / "reports" / "metrics.json"
    res = json.loads(path.read_text()) if path.is_file() else {}
    n = 32 if args.quick else 256
    side = bench_swd_side_by_side(n, 320, 256, rounds=args.rounds)
    side["rounds"] = args.rounds
    side["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
                       "loadavg": os.getloadavg(), "shared": bool(args.shared)}
    res["swd_side_by_side"] = side
    write_json_atomic(path, res)
    md = ROOT / "reports" / "metrics.md"
    old = md.read_text().split("\n## SWD side by side")[0].rstrip() + "\n" if md.is_file() else ""
    write_text_atomic(md, old + _side_markdown(side))
    print(_side_markdown(side))


def _side_markdown(side: dict[str, Any]) -> str:
    m, o = side["machine"], side["ours"]
    shared = (f" The machine was shared with other jobs (load average {m['loadavg'][0]:.1f} on {m['cpus']} CPUs "
              "at the end), so absolute times are inflated; both sides ran alternately in one process, so the "
              "ratio is the fair figure.") if m["shared"] else ""
    return "\n".join([
        "",
        "## SWD side by side (one run, same images)",
        "",
        f"{side['images']}, best of {side.get('rounds', 2)} alternating round(s), torch threads {m['threads']}.{shared}",
        "",
        "| measurement | seconds |",
        "|---|---|",
        f"| NumPy reference (tests/metrics/swd_reference.py), bare value | {side['reference_bare_value_s']:.2f} |",
        f"| ours, streaming + value + floors ({side['floor_splits']} matched splits) + interval "
        f"({side['n_bootstrap']} replicates) | {side['ours_full_compute_s']:.2f} |",
        f"| of which one view ('all': value, floors, interval; descriptors already streamed) | "
        f"{side['ours_one_view_s']:.2f} |",
        f"| ours, bare distance only (descriptors already streamed) | {side['ours_bare_distance_s']:.2f} |",
        f"| speed-up of our full compute over the reference's bare value | {side['speedup']:.1f}x |",
        f"| speed-up of one view's value + floors + interval over the reference's bare value | "
        f"{side['reference_bare_value_s'] / side['ours_one_view_s']:.1f}x |",
        f"| speed-up of our bare distance over the reference's bare value | "
        f"{side['reference_bare_value_s'] / side['ours_bare_distance_s']:.1f}x |",
        "",
        f"The full compute() scores every view holding images ({', '.join(side['views_computed'])}; a view "
        "that holds every image shares 'all''s results); the reference computes one value.",
        "",
        f"Bootstrap replicates from cell summaries against the exact replicates (the same "
        f"{side['bootstrap_agreement']['replicates']} multisets, per level): correlation of their deviations "
        + ", ".join(f"{r['corr']:.4f}" for r in side["bootstrap_agreement"]["levels"])
        + "; spread ratio " + ", ".join(f"{r['spread_ratio']:.3f}" for r in side["bootstrap_agreement"]["levels"])
        + "; seconds per level " + ", ".join(f"{r['level_s_cells']:.2f} vs {r['level_s_exact']:.2f}"
                                             for r in side["bootstrap_agreement"]["levels"]) + ".",
        "",
        f"Values (raw, x1e3 in tables): reference {side['reference_value'] * 1e3:.2f}; ours {o['value'] * 1e3:.2f} "
        f"[{o['ci'][0] * 1e3:.2f}, {o['ci'][1] * 1e3:.2f}], floor {o['floor'] * 1e3:.2f} +- {o['floor_sd'] * 1e3:.2f} "
        f"(2 x {o['floor_size']} real images), ratio {o['ratio']:.2f}. Published reference timing: 21 s for "
        "2x256 at 320x256 (see above).",
        "",
    ])


def _markdown(r: dict[str, Any], n_small: int, n_big: int) -> str:
    s = r["swd_cpu"]
    ref = r["swd_numpy_reference"]
    small, big = s[f"320x256_2x{n_small}"], s[f"1280x1024_2x{n_big}"]
    lines = [
        "# Metrics core benchmark",
        "",
        f"Machine: {r['machine']['platform']}, {r['machine']['cpus']} CPUs, torch threads {r['machine']['threads']}, "
        f"load average at start {r['machine']['loadavg_start'][0]:.1f}, at end {r['machine']['loadavg_end'][0]:.1f}. "
        "SWD rows are the best of 3 runs of streaming and of the distance (this VM's timings vary by +-20% "
        "from run to run); ratios measured in the same run are the fairer comparison.",
        "",
        f"SWD 2x{n_small} at 320x256 split: streaming {small['stream_s']:.2f} s, distance {small['distance_s']:.2f} s; "
        f"2x{n_big} at 1280x1024: streaming {big['stream_s']:.2f} s, distance {big['distance_s']:.2f} s. "
        "The distance is mostly NumPy's sort of 5 levels x 2 sets x 512 projections of 32768 descriptors "
        "(about 1 s of CPU at 320x256), split over the torch threads.",
        "",
        "| measurement | ours (s) | reference (s) |",
        "|---|---|---|",
        f"| SWD 2x{n_small} at 320x256 (stream + distance) | {small['swd_s']:.2f} | "
        f"{ref[f'320x256_2x{n_small}_extrapolated_s']:.1f} NumPy here (extrapolated from 2x8); 21 published |",
        f"| SWD 2x{n_big} at 1280x1024 (stream + distance) | {big['swd_s']:.2f} | "
        f"{ref[f'1280x1024_2x{n_big}_extrapolated_s']:.1f} NumPy here (extrapolated from 2x2); 46 published |",
        f"| SWD 2x{n_big} at 1280x1024, full compute() with floor and 50 bootstrap replicates, per view 'all' | "
        f"{big['compute_with_floor_and_50_bootstrap_s']:.2f} | - |",
        f"| MS-SSIM, one 1280x1024 pair | {r['msssim_cpu']['ours_s_per_pair']:.3f} | "
        f"{r['msssim_cpu']['pytorch_msssim_s_per_pair']:.3f} pytorch-msssim |",
        f"| Fréchet distance, 2048-d, float64 eigenvalues | {r['frechet']['frechet_2048d_s']:.2f} | - |",
        f"| offline features, per 1280x1024 image | {r['features_cpu']['offline_1280x1024_s_per_image']:.3f} | - |",
        f"| Inception (FID) features, per 1280x1024 image | {r['features_cpu']['inception_1280x1024_s_per_image']:.3f} | - |",
        "",
        "GPU rows appear in metrics.json when a CUDA device is present (none on this machine).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
