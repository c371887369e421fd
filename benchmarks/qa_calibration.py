"""Held-out validation of QA calibration on real-dev -> reports/qa_calibration.{md,json}.

The thresholds are fitted (`mammoeval.qa.calibration.calibrate`) on one half of real-dev (sorted by
file name: even-indexed files, then odd) and measured on the other half, both ways, so no number
here comes from images the thresholds saw. Per condition (working height 320, 640 or 1280 rows;
display curve grey ** gamma, gamma 0.8 / 1 / 1.25, applied to calibration and test images alike, as
a site's own curve would be), it reports:

- the clean false-positive rate per detector and of "any detector" on the held-out half (pooled
  over both directions: 29 images);
- the recall, at strength 0.5, of every injector of `mammoeval.qa.inject` (INJECTORS and the
  evaluation-only VARIANTS), each judged by its own detector on the held-out half;
- the same with the shipped default thresholds, and the clean false-positive rate when the
  thresholds fitted at gamma 1 are used on images shown with another curve ("cross-curve").

A fast loop while changing a detector: `--conditions 640 640:1.25` measures only those conditions
and `--out DIR` writes the JSON and Markdown there instead of reports/ (two such runs can go in
parallel and `--from-json A.json B.json` merges their records); `--misses` also prints, per
condition, each held-out image's clean false positives and the injected kinds it missed.

Each half holds 14-15 images (of both views), under the MIN_IMAGES of a real calibration: the halves
are calibrated with per_view=False and min_images=10 (stated in the report). Skips cleanly
(writes a note) when real-dev is absent. Scores are kept in the JSON; `--from-json` re-analyses
them without recomputing.

Run: nice -n 10 python benchmarks/qa_calibration.py [--full] [--conditions H[:GAMMA] ...] [--out DIR]
     [--from-json [JSON ...]] [--misses]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from qa_detectors import load_real  # benchmarks/ is the script's folder

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa import check_image
from mammoeval.qa.anatomy import compute_anatomy, flatten_background
from mammoeval.qa.calibration import Calibration, RealScores, calibrate, shipped_defaults
from mammoeval.qa.detectors import CALIBRATED, REGISTRY
from mammoeval.qa.detectors.base import mask_at
from mammoeval.qa.detectors.outline import outline_score
from mammoeval.qa.inject import INJECTORS, VARIANTS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports"
STRENGTH = 0.5
FP_RATE = 0.02
HALF_MIN_IMAGES = 10
CONDITIONS = [(320, 1.0), (640, 1.0), (1280, 1.0), (640, 0.8), (640, 1.25)]
FULL_EXTRA = [(320, 0.8), (320, 1.25), (1280, 0.8), (1280, 1.25)]
KINDS: list[tuple[str, str, Any]] = ([(k, k, f) for k, f in INJECTORS.items()]
                                     + [(f"{k} (variant)", k, f) for k, f in VARIANTS.items()])
"""(label, detector that must catch it, injector)."""


def condition_name(height: int, gamma: float) -> str:
    return f"{height} rows" + ("" if gamma == 1.0 else f", gamma {gamma:g}")


def score_with(img: np.ndarray, detector: str) -> float:
    """Return one detector's score of an image, computed as `check_image` computes it."""
    broken = REGISTRY["broken"].score(img, None)
    if detector == "broken" or broken.flag:
        return broken.score if detector == "broken" else 0.0
    work, _ = reduce_to_height(img, 1280)
    work, offset = flatten_background(work)
    anatomy = compute_anatomy(work, background_offset=offset)
    if anatomy.chest_wall_side == "right":
        work = np.ascontiguousarray(work[:, ::-1])
    return REGISTRY[detector].score(work, anatomy).score


def measure(images: list[tuple[str, str, np.ndarray]], gamma: float, seed: int) -> list[dict[str, Any]]:
    """Return per image: id, view, clean scores, outline features, working rows, injected scores by kind."""
    out = []
    for k, (image_id, view, img) in enumerate(images):
        img = np.clip(img, 0, 1) ** gamma if gamma != 1.0 else img
        img = img.astype(np.float32)
        row, _ = check_image(img, view=view, image_id=image_id)
        an = compute_anatomy(img)
        mask = mask_at(an.mask, img.shape, 1.0 / an.factor)
        injected = {}
        for j, (label, det, fn) in enumerate(KINDS):
            rng = np.random.default_rng([seed, k, j])
            injected[label] = round(score_with(fn(img, mask, STRENGTH, rng), det), 5)
        out.append({"id": image_id, "view": view, "clean": {n: round(s, 5) for n, s in row.scores.items()},
                    "outline_features": row.outline_features, "working_rows": row.working_rows,
                    "injected": injected})
    return out


def fit(records: list[dict[str, Any]]) -> Calibration:
    reals = [RealScores(r["id"], r["view"], r["clean"], r["outline_features"], r["working_rows"]) for r in records]
    return calibrate(reals, fp_rate=FP_RATE, min_images=HALF_MIN_IMAGES, per_view=False, source="real-dev half")


def judge(cal: Calibration, rec: dict[str, Any]) -> dict[str, bool]:
    """Return the clean flags of one record under a calibration."""
    vc = cal.for_view(rec["view"])
    flags = {}
    for n in CALIBRATED:
        s = outline_score(rec["outline_features"], vc.outline_reference) if n == "outline" else rec["clean"][n]
        flags[n] = s >= vc.thresholds[n]
    return flags


def evaluate(records: list[dict[str, Any]], *, fitted_on: list[dict[str, Any]] | None = None,
             defaults: bool = False) -> dict[str, Any]:
    """Return held-out FP and recall pooled over both directions (`fitted_on`: records to calibrate on instead)."""
    halves = [records[0::2], records[1::2]]
    base = fitted_on if fitted_on is not None else records
    cal_halves = [base[0::2], base[1::2]]
    fp = {n: 0 for n in CALIBRATED}
    fp_any, n_test = 0, 0
    hits: dict[str, list[bool]] = {label: [] for label, _, _ in KINDS}
    thresholds = []
    for a, b in ((0, 1), (1, 0)):
        cal = shipped_defaults() if defaults else fit(cal_halves[a])
        thresholds.append(cal.for_view("all").thresholds)
        for rec in halves[b]:
            flags = judge(cal, rec)
            n_test += 1
            fp_any += any(flags.values())
            for n, f in flags.items():
                fp[n] += f
            th = cal.for_view(rec["view"]).thresholds
            for label, det, _ in KINDS:
                hits[label].append(rec["injected"][label] >= th.get(det, 1.0))
    return {"n": n_test, "fp_any": fp_any / n_test, "fp": {n: c / n_test for n, c in fp.items()},
            "fp_counts": fp, "fp_any_count": fp_any,
            "recall": {k: float(np.mean(v)) for k, v in hits.items()}, "thresholds": thresholds}


def analyse(records: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Return the report body from the per-condition records."""
    out: dict[str, Any] = {"calibrated": {}, "defaults": {}, "cross_curve": {}}
    for name, recs in records.items():
        out["calibrated"][name] = evaluate(recs)
        out["defaults"][name] = evaluate(recs, defaults=True)
    for name, recs in records.items():
        if ", gamma" in name and name.split(",")[0] in records:
            out["cross_curve"][name] = evaluate(recs, fitted_on=records[name.split(",")[0]])
    if "640 rows" in records:
        recs = records["640 rows"]
        reals = [RealScores(r["id"], r["view"], r["clean"], r["outline_features"], r["working_rows"]) for r in recs]
        out["data_quality_640"] = list(calibrate(reals, per_view=False, source="real-dev").data_quality)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def render_md(report: dict[str, Any]) -> str:
    """Return the Markdown report."""
    lines = ["# QA calibration on held-out real images", "",
             f"Generated by `benchmarks/qa_calibration.py` in {report['seconds']:.0f} s on a shared 2-core CPU "
             f"(nice 10{'; summed over ' + str(report['runs']) + ' runs merged by --from-json' if report.get('runs', 1) > 1 else ''}). Thresholds fitted on one half of real-dev, measured on the other, both ways (29 "
             f"held-out images per condition); chosen false-positive rate {FP_RATE:.0%} per detector; halves "
             f"calibrated pooled over views with min_images={HALF_MIN_IMAGES} (each half has 14-15 images). "
             f"Injected strength {STRENGTH}.", ""]
    body = report.get("results")
    if not body:
        return "\n".join(lines + ["real-dev absent: nothing measured.", ""])
    dets = list(CALIBRATED)
    for mode, title in (("calibrated", "Calibrated on the other half"), ("defaults", "Shipped default thresholds")):
        lines += [f"## {title}: clean false positives (%)", "",
                  "| condition | any | " + " | ".join(dets) + " |", "|---|---|" + "---|" * len(dets)]
        for name, r in body[mode].items():
            lines.append(f"| {name} | {_pct(r['fp_any'])} | " + " | ".join(_pct(r["fp"][d]) for d in dets) + " |")
        labels = [k for k, _, _ in KINDS]
        lines += ["", f"## {title}: recall at strength {STRENGTH}", "",
                  "| condition | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for name, r in body[mode].items():
            lines.append(f"| {name} | " + " | ".join(f"{r['recall'][k]:.2f}" for k in labels) + " |")
        lines.append("")
    if body["cross_curve"]:
        lines += ["## Thresholds fitted at gamma 1, tested on another display curve: clean false positives (%)", "",
                  "| condition | any | " + " | ".join(dets) + " |", "|---|---|" + "---|" * len(dets)]
        for name, r in body["cross_curve"].items():
            lines.append(f"| {name} | {_pct(r['fp_any'])} | " + " | ".join(_pct(r["fp"][d]) for d in dets) + " |")
        lines.append("")
    lines += ["## Thresholds fitted (half A / half B)", ""]
    for name, r in body["calibrated"].items():
        th = " / ".join("{" + ", ".join(f"{d} {t[d]:.2f}" for d in dets) + "}" for t in r["thresholds"])
        lines.append(f"- {name}: {th}")
    dq = body.get("data_quality_640") or []
    lines += ["", "## Data-quality findings (all 29 at 640 rows, pooled calibration)", "",
              ", ".join(f"{f['id']} ({f['detector']} {f['score']:.2f} >= {f['threshold']:.2f})" for f in dq) or "none",
              ""]
    return "\n".join(lines)


def parse_condition(text: str) -> tuple[int, float]:
    """Return (height, gamma) of "H" or "H:GAMMA" (e.g. "640:1.25")."""
    height, _, gamma = text.partition(":")
    return int(height), float(gamma or 1.0)


def misses(report: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Return one line per held-out image and condition with a clean false positive or a missed injection."""
    lines = []
    for name, recs in records.items():
        th = report["calibrated"][name]["thresholds"]
        for a, b in ((0, 1), (1, 0)):
            for rec in recs[b::2]:
                fp = [n for n in CALIBRATED if n != "outline" and rec["clean"][n] >= th[a][n]]
                miss = [f"{label} {rec['injected'][label]:.2f} < {th[a].get(det, 1.0):.2f}" for label, det, _ in KINDS
                        if rec["injected"][label] < th[a].get(det, 1.0)]
                if fp or miss:
                    lines.append(f"{name} | {rec['id']} ({rec['view']}) | fp: {', '.join(fp) or '-'} | "
                                 f"missed: {'; '.join(miss) or '-'}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="also gamma 0.8 / 1.25 at 320 and 1280 rows")
    ap.add_argument("--conditions", nargs="+", type=parse_condition, metavar="H[:GAMMA]",
                    help="measure only these conditions (e.g. 640 640:1.25)")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for qa_calibration.{json,md} (default reports/)")
    ap.add_argument("--from-json", nargs="*", type=Path, metavar="JSON",
                    help="re-analyse (and merge) the scores kept in these JSONs (none: the one in --out)")
    ap.add_argument("--misses", action="store_true", help="print each held-out false positive and miss")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.from_json is not None:
        merged, seconds, runs = {}, 0.0, 0
        for path in args.from_json or [args.out / "qa_calibration.json"]:
            old = json.loads(path.read_text())
            merged.update(old["records"])
            seconds += old["seconds"]
            runs += old.get("runs", 1)
        order = [condition_name(h, g) for h, g in CONDITIONS + FULL_EXTRA]
        records = dict(sorted(merged.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    else:
        records = {}
        cache: dict[int, list[tuple[str, str, np.ndarray]]] = {}
        for h, g in args.conditions or CONDITIONS + (FULL_EXTRA if args.full else []):
            cache.setdefault(h, load_real(h))
            if not cache[h]:
                break
            records[condition_name(h, g)] = measure(cache[h], g, seed=h)
            print(f"{condition_name(h, g)}: {time.perf_counter() - t0:.0f} s", flush=True)
        seconds, runs = time.perf_counter() - t0, 1
    report = {"seconds": seconds, "runs": runs, "fp_rate": FP_RATE, "strength": STRENGTH,
              "results": analyse(records) if records else None, "records": records}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "qa_calibration.json", report)
    write_text_atomic(args.out / "qa_calibration.md", render_md(report))
    print(render_md(report))
    if args.misses and report["results"]:
        print("\n".join(misses(report["results"], records)))


if __name__ == "__main__":
    main()
