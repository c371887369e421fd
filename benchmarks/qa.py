"""Speed of the per-image QA checks on a 1280x1024 phantom -> reports/qa.json and reports/qa.md.

Times each stage (anatomy, each detector, calcifications) and the whole `check_image` on one CPU
thread, median of several repeats. Run: python benchmarks/qa.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Return the median wall time of fn over repeats calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    """Time the QA stages and write the reports."""
    import torch

    from mammoeval.data.phantom import FindingsConfig, render_phantom
    from mammoeval.qa import artifacts as A
    from mammoeval.qa import check_image
    from mammoeval.qa.anatomy import compute_anatomy
    from mammoeval.qa.calcifications import detect_calcifications
    from mammoeval.qa.repeats import detect_repeats

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)
    except ImportError:
        pass
    img = render_phantom(7, size=(1280, 1024), view="MLO", findings=FindingsConfig(p_calcifications=1.0)).image
    an = compute_anatomy(img)
    stages: dict[str, Callable[[], Any]] = {
        "anatomy": lambda: compute_anatomy(img),
        "broken": lambda: A.detect_broken(img),
        "checkerboard": lambda: A.detect_checkerboard(img, an),
        "background": lambda: A.detect_background(img, an),
        "boundary": lambda: A.detect_boundary(an),
        "blobs": lambda: A.detect_blobs(img, an),
        "repeats": lambda: detect_repeats(img, an),
        "calcifications": lambda: detect_calcifications(img, an),
        "check_image (all)": lambda: check_image(img, view="MLO"),
    }
    res = {k: _median_seconds(f, args.repeats) for k, f in stages.items()}
    report = {"image": "phantom 1280x1024 MLO", "threads": 1, "repeats": args.repeats, "seconds": res,
              "target_seconds": 1.0}
    out = ROOT / "reports"
    write_json_atomic(out / "qa.json", report)
    lines = ["# QA speed (one 1280x1024 image, one CPU thread)", "",
             f"Median of {args.repeats} runs on one thread of this project's 2-core VM (load average "
             f"{os.getloadavg()[0]:.1f} at the end). Target: all checks well under 1 s.", "",
             "| stage | ms |", "|---|---|"]
    lines += [f"| {k} | {v * 1000:.0f} |" for k, v in res.items()]
    write_text_atomic(out / "qa.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
