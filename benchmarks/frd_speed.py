"""Seconds per image of FRD's radiomics features at 320x256 and 1280x1024; writes reports/frd_speed.json and .md.

Measures, per size, on phantom mammograms: PyRadiomics extraction with FRD v1 settings over the
whole image (``frd``), QA's breast mask plus the breast-region extraction (``frd_breast``), and the
distance stage (normalisation + Fréchet + log) for two sets of the measured feature dimension.
One process, one thread (PyRadiomics is single-threaded per image). CPU seconds of the process
are reported beside wall seconds: on a shared machine the wall time mostly measures the other jobs.

Usage: ``python benchmarks/frd_speed.py [--n-small 6] [--n-large 2]``.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic  # noqa: E402
from mammoeval.data.phantom.render import render_phantom  # noqa: E402
from mammoeval.metrics.frd import compute_frd  # noqa: E402
from mammoeval.metrics.radiomics import extract_radiomics, radiomics_version  # noqa: E402
from mammoeval.qa.breast_mask import compute_breast_mask  # noqa: E402


def _time_images(images: list[np.ndarray], breast: bool) -> tuple[list[float], list[float], list[float], int]:
    """Return per-image wall seconds and CPU seconds (extraction incl. mask), mask CPU seconds, feature count."""
    wall, cpu, masks, dim = [], [], [], 0
    for im in images:
        t0, c0 = time.perf_counter(), time.process_time()
        mask = compute_breast_mask(im) if breast else None
        c1 = time.process_time()
        feats = extract_radiomics(im, mask, normalize_in_region=breast)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        masks.append(c1 - c0)
        dim = len(feats)
    return wall, cpu, masks, dim


def bench_size(size: tuple[int, int], n: int) -> dict[str, Any]:
    images = [render_phantom(100 + i, size=size, view="CC" if i % 2 == 0 else "MLO").image for i in range(n)]
    extract_radiomics(images[0][:64, :64])  # build the extractor outside the timed part
    out: dict[str, Any] = {"size": list(size), "n_images": n}
    for name, breast in (("frd", False), ("frd_breast", True)):
        wall, cpu, masks, dim = _time_images(images, breast)
        out[name] = {"cpu_s_per_image": float(np.mean(cpu)), "wall_s_per_image_mean": float(np.mean(wall)),
                     "wall_s_per_image_best": float(np.min(wall)),
                     "mask_cpu_s_per_image": float(np.mean(masks)) if breast else 0.0, "n_features": dim}
    rng = np.random.default_rng(0)
    for n_set in (100, 1000):
        a, b = rng.normal(size=(n_set, out["frd"]["n_features"])), rng.normal(size=(n_set, out["frd"]["n_features"]))
        t = time.perf_counter()
        compute_frd(a, b)
        out[f"distance_s_{n_set}_vs_{n_set}"] = time.perf_counter() - t
    return out


def _markdown(res: dict[str, Any]) -> str:
    lines = ["# FRD speed", "", f"PyRadiomics {res['pyradiomics']}, {res['machine']}; one process, one thread. "
             "The machine was shared with other jobs while this ran (load average "
             f"{res['load_before']:.1f} before, {res['load_after']:.1f} after on {os.cpu_count()} cores): the "
             "CPU seconds of this process are the estimate of the cost on an idle core; wall seconds show "
             "what the shared machine gave.", "",
             "| size | images | metric | CPU s / image | wall s / image (mean, best) | of which breast mask (CPU s) | features |",
             "|---|---|---|---|---|---|---|"]
    for r in res["sizes"]:
        for name in ("frd", "frd_breast"):
            m = r[name]
            lines.append(f"| {r['size'][0]}x{r['size'][1]} | {r['n_images']} | {name} | {m['cpu_s_per_image']:.2f} | "
                         f"{m['wall_s_per_image_mean']:.2f}, {m['wall_s_per_image_best']:.2f} | "
                         f"{m['mask_cpu_s_per_image']:.2f} | {m['n_features']} |")
    lines += ["", "Distance stage (z-scoring, Fréchet in row space or D x D, log), seconds:", ""]
    for r in res["sizes"]:
        lines.append(f"- {r['size'][0]}x{r['size'][1]} features: 100 vs 100 images "
                     f"{r['distance_s_100_vs_100']:.3f} s, 1000 vs 1000 {r['distance_s_1000_vs_1000']:.3f} s")
    lines += ["", "The real set's features are cached by content hash (cache.py), so scoring a checkpoint pays the "
              "per-image cost for the generated images only. Extraction is per image and single-threaded: "
              "scoring with N worker processes divides the wall time by about N.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-small", type=int, default=6, help="images timed at 320x256")
    ap.add_argument("--n-large", type=int, default=2, help="images timed at 1280x1024")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "frd_speed")
    args = ap.parse_args()
    if radiomics_version() is None:
        sys.exit("PyRadiomics is not installed: python -m pip install pyradiomics-bhklab==3.1.4")
    load_before = os.getloadavg()[0]
    sizes = [bench_size((320, 256), args.n_small), bench_size((1280, 1024), args.n_large)]
    res = {"pyradiomics": radiomics_version(), "machine": f"{platform.processor() or platform.machine()}, "
           f"{os.cpu_count()} cores", "load_before": load_before, "load_after": os.getloadavg()[0], "sizes": sizes}
    write_json_atomic(args.out.with_suffix(".json"), res)
    write_text_atomic(args.out.with_suffix(".md"), _markdown(res))
    print(_markdown(res))


if __name__ == "__main__":
    main()
