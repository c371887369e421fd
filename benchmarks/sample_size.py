"""An identical generator scored as a new user would: does it read as indistinguishable from real data?

Real and generated images are drawn from ONE texture distribution (512 real, 128 generated, and 256
vs 256), scored with SWD, PRDC, FID and KID in the offline feature space. For every headline number
it prints value, interval, floor and value / floor, and whether the floor lies inside the interval.
Usage: ``python benchmarks/sample_size.py [--out reports/sample_size.json] [--size 160x128]``; run it
with another checkout on PYTHONPATH to compare versions (the JSON records which).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from mammoeval.data.imageset import TensorImageSet  # noqa: E402
from mammoeval.metrics.suite import compute_suite  # noqa: E402

KEYS = ("swd_avg", "fid_offline", "kid_offline", "precision_offline", "recall_offline", "density_offline",
        "coverage_offline", "c2st_auc")
METRICS = ("swd", "fid_offline", "kid_offline", "prdc_offline", "c2st")


def _images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tex = torch.rand(n, 1, h // 8, w // 8, generator=g)
    x = torch.nn.functional.interpolate(tex, size=(h, w), mode="bilinear", align_corners=False)
    return (0.7 * x + 0.3 * torch.rand(n, 1, h, w, generator=g)).clamp(0, 1)


def score(n_real: int, n_fake: int, h: int, w: int) -> dict[str, Any]:
    real = TensorImageSet(_images(n_real, h, w, 1), torch.zeros(n_real, dtype=torch.int64), name="real")
    fake = TensorImageSet(_images(n_fake, h, w, 2), torch.zeros(n_fake, dtype=torch.int64), name="fake")
    t0 = time.perf_counter()
    out = compute_suite(real, fake, metrics=list(METRICS), n_bootstrap=50,
                        progress=False).to_json()
    rows = {}
    for k in KEYS:
        e = out["views"]["all"].get(k)
        if e is None:
            continue
        ci, fl = e.get("ci"), e.get("floor")
        rows[k] = {"value": e["value"], "ci": ci, "floor": fl, "floor_sd": e.get("floor_sd"),
                   "floor_size": e.get("floor_size"), "ratio": e.get("ratio"),
                   "matched_value": e.get("matched_value"),
                   "ci_holds_value": bool(ci and ci[0] <= e["value"] <= ci[1]),
                   "ci_holds_floor": bool(ci and fl is not None and ci[0] <= fl <= ci[1])}
    return {"n_real": n_real, "n_fake": n_fake, "size": [h, w], "seconds": time.perf_counter() - t0, "rows": rows}


def markdown(res: dict[str, Any]) -> str:
    """Return the human-readable report of `main`'s results."""
    lines = ["# An identical generator, scored (`benchmarks/sample_size.py`)", "",
             "Real and generated images drawn from one texture distribution; suite "
             f"{', '.join(METRICS)}; load average at the start {res['loadavg'][0]:.1f}. An honest protocol puts the "
             "floor inside the interval and the ratio near 1 (KID: no ratio, its floor's expectation is 0). When the "
             "real set holds fewer than twice the generated set (the second case), the floor is measured at the largest "
             "equal size, smaller than the value's: the ratio then compares the value recomputed at the floor's size "
             "(`matched_value`) with it, and the floor is not expected inside the full-size value's interval.", ""]
    for case in res["cases"]:
        h, w = case["size"]
        lines += [f"## {case['n_real']} real vs {case['n_fake']} generated at {h}x{w} ({case['seconds']:.0f} s)", "",
                  "| key | value | 95% interval | floor (+- sd, size) | value at the floor's size | ratio | "
                  "floor in interval |", "|---|---|---|---|---|---|---|"]
        for k, r in case["rows"].items():
            ci = "-" if not r["ci"] else f"[{r['ci'][0]:.4g}, {r['ci'][1]:.4g}]"
            fl = "-" if r["floor"] is None else f"{r['floor']:.4g} +- {r['floor_sd'] or 0:.2g} ({r['floor_size']})"
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
            mv = "-" if r.get("matched_value") is None else f"{r['matched_value']:.4g}"
            lines.append(f"| {k} | {r['value']:.4g} | {ci} | {fl} | {mv} | {ratio} | "
                         f"{'yes' if r['ci_holds_floor'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "sample_size.json")
    ap.add_argument("--size", default="160x128")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    import mammoeval

    res = {"code": str(Path(mammoeval.__file__).resolve().parents[1]), "loadavg": os.getloadavg(),
           "cases": [score(512, 128, h, w), score(256, 256, h, w)]}
    args.out.write_text(json.dumps(res, indent=1, sort_keys=True))
    args.out.with_suffix(".md").write_text(markdown(res), encoding="utf-8")
    for case in res["cases"]:
        print(f"{case['n_real']} real vs {case['n_fake']} generated at {h}x{w} ({case['seconds']:.0f} s)")
        for k, r in case["rows"].items():
            ci = r["ci"] or [float("nan")] * 2
            print(f"  {k:18s} {r['value']:.4g} [{ci[0]:.4g}, {ci[1]:.4g}] floor {r['floor']} ratio {r['ratio']} "
                  f"floor in ci {r['ci_holds_floor']}")


if __name__ == "__main__":
    main()
