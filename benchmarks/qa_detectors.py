"""Labelled injection benchmark of the QA detectors -> reports/qa_detectors.json and .md.

Each artifact kind of `mammoeval.qa.inject` is injected at several strengths into clean phantoms
and (when present) the real-dev mammograms; per detector and strength we report recall on the
injected images, precision against the same number of clean images, and the false-positive rate
on the clean images. Evaluation-only injector variants (`inject.VARIANTS`, never used for tuning)
are reported separately. Real-dev is split: thresholds were tuned on the even-indexed files (sorted
by name), the table reports the odd half and all. Calcification validation lives in
benchmarks/qa_calcs.py.

Run: python benchmarks/qa_detectors.py [--n-phantoms 20] [--real-height 640]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa import DETECTORS, check_image
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.artifacts import _mask_at
from mammoeval.qa.inject import INJECTORS, VARIANTS, _interior_point, inject

ROOT = Path(__file__).resolve().parents[1]
REAL_DEV = ROOT.parent / "shared" / "data" / "real-dev"
STRENGTHS = (0.25, 0.5, 1.0)
INJECTED = [d for d in DETECTORS if d in INJECTORS]
"""Detectors with an injector of their own (the table rows)."""


def load_phantoms(n: int) -> list[tuple[str, str, np.ndarray]]:
    """Return n clean phantoms per view at 320x256 as (id, view, image)."""
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    cfg = FindingsConfig(p_calcifications=0.5, p_marker=0.3, p_text=0.5)
    return [(f"phantom_{v}_{s}", v, render_phantom(1000 + s, size=(320, 256), view=v, findings=cfg).image)
            for s in range(n) for v in ("CC", "MLO")]


def load_real(max_height: int) -> list[tuple[str, str, np.ndarray]]:
    """Return the real-dev images (canonical: chest wall left), box-reduced to <= max_height rows."""
    import csv

    from mammoeval.data.readers import read_image

    if not (REAL_DEV / "labels.csv").exists():
        return []
    out = []
    with open(REAL_DEV / "labels.csv", newline="") as f:
        for row in sorted(csv.DictReader(f), key=lambda r: r["file"]):
            img = reduce_to_height(read_image(REAL_DEV / row["file"]).pixels, max_height)[0]
            if compute_anatomy(img).chest_wall_side == "right":
                img = np.ascontiguousarray(img[:, ::-1])
            out.append((Path(row["file"]).stem, row["view"], img))
    return out


def evaluate(images: list[tuple[str, str, np.ndarray]], seed: int) -> dict[str, Any]:
    """Return clean flags per detector and, per kind and strength, the matching detector's flags."""
    rng = np.random.default_rng(seed)
    clean = {d: [] for d in DETECTORS}
    any_clean: list[bool] = []
    injected: dict[str, dict[str, list[bool]]] = {k: {str(s): [] for s in STRENGTHS} for k in INJECTORS}
    variants: dict[str, dict[str, list[bool]]] = {k: {str(s): [] for s in STRENGTHS} for k in VARIANTS}
    for image_id, view, img in images:
        row, _ = check_image(img, view=view, image_id=image_id)
        for d in DETECTORS:
            clean[d].append(row.flag(d))
        any_clean.append(row.any_artifact)
        an = compute_anatomy(img)
        mask = _mask_at(an.mask, img.shape, 1.0 / an.factor)
        for kind in INJECTORS:
            for s in STRENGTHS:
                bad = inject(kind, img, mask, strength=s, rng=rng)  # type: ignore[arg-type]
                injected[kind][str(s)].append(check_image(bad, view=view)[0].flag(kind))
        for kind, fn in VARIANTS.items():
            for s in STRENGTHS:
                bad = fn(img, mask, s, rng)
                variants[kind][str(s)].append(check_image(bad, view=view)[0].flag(kind))
    return {"clean": clean, "any_clean": any_clean, "injected": injected, "variants": variants,
            "ids": [im[0] for im in images],
            "flagged_clean_ids": {d: [images[i][0] for i, f in enumerate(clean[d]) if f] for d in DETECTORS}}


def hole_sweep(images: list[tuple[str, str, np.ndarray]], seed: int, *, per_image: int = 4,
               factor: float = 0.5) -> list[bool]:
    """Return the blobs flags of dark holes (a disk of radius 3% of the height multiplied by `factor`,
    placed as `inject_blobs` places it) at `per_image` seeded places in each image, image by image.

    The hardest blob kind on real tissue: a half-darkened disk looks like a fat lobule. Several places
    per image give a steadier recall than the one blob of each injected image.
    """
    rng = np.random.default_rng(seed)
    flags = []
    for _, view, img in images:
        an = compute_anatomy(img)
        mask = _mask_at(an.mask, img.shape, 1.0 / an.factor)
        r = 0.03 * img.shape[0]
        yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
        for _ in range(per_image):
            cy, cx = _interior_point(mask, rng, 3 * r)
            bad = img.copy()
            bad[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] *= factor
            flags.append(check_image(bad, view=view)[0].flag("blobs"))
    return flags


def table(res: dict[str, Any]) -> dict[str, Any]:
    """Return per detector: FP rate on clean and per strength recall / precision."""
    out: dict[str, Any] = {"fp_rate_any": float(np.mean(res["any_clean"])) if res["any_clean"] else None}
    for d in INJECTED:
        fp = int(np.sum(res["clean"][d]))
        n = len(res["clean"][d])
        per = {}
        for s, flags in res["injected"][d].items():
            tp = int(np.sum(flags))
            per[s] = {"recall": tp / len(flags) if flags else None,
                      "precision": tp / (tp + fp) if tp + fp else None, "n": len(flags)}
        out[d] = {"fp_rate": fp / n if n else None, "n_clean": n, "by_strength": per,
                  "flagged_clean": res["flagged_clean_ids"][d]}
    out["variants"] = {k: {s: (float(np.mean(f)) if f else None) for s, f in v.items()}
                       for k, v in res["variants"].items()}
    return out


def subset(res: dict[str, Any], keep: list[bool]) -> dict[str, Any]:
    """Return the evaluation restricted to the images where keep is True."""
    pick = lambda flags: [f for f, k in zip(flags, keep, strict=True) if k]  # noqa: E731
    return {"clean": {d: pick(v) for d, v in res["clean"].items()}, "any_clean": pick(res["any_clean"]),
            "injected": {k: {s: pick(f) for s, f in v.items()} for k, v in res["injected"].items()},
            "variants": {k: {s: pick(f) for s, f in v.items()} for k, v in res["variants"].items()},
            "ids": pick(res["ids"]),
            "flagged_clean_ids": {d: [i for i in ids if i in pick(res["ids"])] for d, ids in
                                  res["flagged_clean_ids"].items()}}


def render_md(report: dict[str, Any]) -> str:
    """Return the Markdown report."""
    lines = ["# QA detector benchmark (injected artifacts)", "",
             f"Generated by `benchmarks/qa_detectors.py` in {report['seconds']:.0f} s on a shared 2-core CPU.",
             f"Strengths {list(STRENGTHS)}; 'clearly visible' = strength >= 0.5. Precision = TP / (TP + FP) with "
             "the same number of clean images of the same set. Real images are box-reduced to <= "
             f"{report['real_height']} rows for speed.", ""]
    if "real (all)" not in report["sets"]:
        lines += ["## real: not available (real-dev absent)", ""]
    for name, t in report["sets"].items():
        lines += [f"## {name} ({report['n_images'][name]} clean images; any-detector FP rate "
                  f"{t['fp_rate_any']:.1%})", "", "| detector | FP rate clean | " +
                  " | ".join(f"recall@{s} / prec@{s}" for s in STRENGTHS) + " |",
                  "|---|---|" + "---|" * len(STRENGTHS)]
        for d in INJECTED:
            r = t[d]
            cells = [f"{r['by_strength'][str(s)]['recall']:.2f} / {(r['by_strength'][str(s)]['precision'] or 0):.2f}"
                     for s in STRENGTHS]
            lines.append(f"| {d} | {r['fp_rate']:.1%} | " + " | ".join(cells) + " |")
        flagged = {d: t[d]["flagged_clean"] for d in INJECTED if t[d]["flagged_clean"]}
        var = "; ".join(f"{k}: " + ", ".join(f"{r:.2f}@{st}" for st, r in v.items()) for k, v in t["variants"].items())
        lines += ["", f"Clean images flagged: {flagged or 'none'}", "",
                  f"Evaluation-only variant injectors (recall by strength): {var}", ""]
        if "hole_sweep_recall" in t:
            lines += [f"Blobs recall on half-darkened holes (radius 3% of the height) at 4 seeded places per "
                      f"image: {t['hole_sweep_recall']:.2f}", ""]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and write the reports."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-phantoms", type=int, default=15, help="phantom seeds per view")
    ap.add_argument("--real-height", type=int, default=640, help="real images are reduced to <= this height")
    args = ap.parse_args()
    t0 = time.time()
    phantoms = load_phantoms(args.n_phantoms)
    real = load_real(args.real_height)
    sets = {"phantom": table(evaluate(phantoms, seed=1))}
    sweep = {"phantom": float(np.mean(hole_sweep(phantoms, seed=3)))}
    if real:
        res = evaluate(real, seed=2)
        odd = [i % 2 == 1 for i in range(len(real))]  # real is sorted by file name
        sets["real (all)"] = table(res)
        sets["real odd (held out)"] = table(subset(res, odd))
        sets["real even (tuning)"] = table(subset(res, [not o for o in odd]))
        holes = np.array(hole_sweep(real, seed=4)).reshape(len(real), -1)
        sweep.update({"real (all)": float(holes.mean()), "real odd (held out)": float(holes[odd].mean()),
                      "real even (tuning)": float(holes[[not o for o in odd]].mean())})
    for name, recall in sweep.items():
        sets[name]["hole_sweep_recall"] = recall
    out = ROOT / "reports"
    out.mkdir(exist_ok=True)
    report = {"sets": sets, "n_images": {"phantom": len(phantoms), "real (all)": len(real),
                                         "real odd (held out)": len(real) // 2,
                                         "real even (tuning)": len(real) - len(real) // 2},
              "strengths": list(STRENGTHS), "real_height": args.real_height}
    report["seconds"] = time.time() - t0
    write_json_atomic(out / "qa_detectors.json", report)
    write_text_atomic(out / "qa_detectors.md", render_md(report))
    print(render_md(report))


if __name__ == "__main__":
    main()
