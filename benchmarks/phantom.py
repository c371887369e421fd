"""Phantom speed: images per minute at 320x256 and 1280x1024 on one core, render only and written to disk.

Writes reports/phantom.json and reports/phantom.md. Run: ``python benchmarks/phantom.py``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.data.phantom import FindingsConfig, render_phantom, write_phantom_dataset

REPORTS = Path(__file__).resolve().parents[1] / "reports"
CASES: tuple[tuple[tuple[int, int], int], ...] = (((320, 256), 60), ((1280, 1024), 8))
"""(size, number of images) per case."""


def images_per_minute_render(size: tuple[int, int], n: int) -> tuple[float, float]:
    """Return images per minute of render_phantom alone (views alternating, findings on): (wall, CPU time)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        render_phantom(i, size=size, view=("CC", "MLO")[i % 2], findings=FindingsConfig())
    return 60.0 * n / (time.perf_counter() - wall), 60.0 * n / (time.process_time() - cpu)


def images_per_minute_write(size: tuple[int, int], n: int) -> float:
    """Return images per minute of write_phantom_dataset with one worker (render, PNG, manifest, lowres)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_phantom_dataset(Path(tmp) / "ds", n=n, size=size, seed=0, workers=1, progress=False)
        return 60.0 * n / (time.perf_counter() - start)


def main() -> None:
    """Run every case and write the JSON and Markdown reports."""
    rows = []
    for size, n in CASES:
        wall, cpu = images_per_minute_render(size, n)
        rows.append({
            "size": f"{size[0]}x{size[1]}",
            "n_images": n,
            "render_images_per_min": round(wall, 1),
            "render_images_per_cpu_min": round(cpu, 1),
            "write_images_per_min": round(images_per_minute_write(size, n), 1),
        })
    result = {"benchmark": "phantom", "workers": 1, "cpu": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "rows": rows}
    REPORTS.mkdir(exist_ok=True)
    write_json_atomic(REPORTS / "phantom.json", result)
    lines = [
        "# Phantom speed (one core)",
        "",
        f"Machine: {result['cpu']}, {result['cpu_count']} CPUs shared with other jobs while this ran, so",
        "wall-clock rates are lower bounds; the CPU-time rate (per minute of one core's CPU time) is",
        "what an unshared core gives. Target: hundreds of images a minute at 320x256.",
        "",
        "| size | images | render (img/min, wall) | render (img/CPU-min) | written as a prepared dataset (img/min, wall) |",
        "|---|---|---|---|---|",
        *(f"| {r['size']} | {r['n_images']} | {r['render_images_per_min']} | {r['render_images_per_cpu_min']} "
          f"| {r['write_images_per_min']} |" for r in rows),
        "",
    ]
    write_text_atomic(REPORTS / "phantom.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
