"""Labelled injection benchmark of the QA detectors -> reports/qa_detectors.json and .md.

Each artifact kind of `mammoeval.qa.inject` is injected at several strengths into clean phantoms
and (when present) the real-dev mammograms; per detector and strength we report recall on the
injected images, precision against the same number of clean images, and the false-positive rate
on the clean images. Calcification detection is validated on phantom ground truth, and a figure
of the detections on the mini-MIAS calcification cases is written to reports/qa_calcs_mias.png.

Run: python benchmarks/qa_detectors.py [--n-phantoms 20] [--real-height 640]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.fsutil import write_json_atomic, write_text_atomic
from mammoeval.qa import DETECTORS, check_image
from mammoeval.qa.anatomy import compute_anatomy, reduce_to_height
from mammoeval.qa.artifacts import _mask_at
from mammoeval.qa.calcifications import detect_calcifications, match_detections
from mammoeval.qa.inject import INJECTORS, inject

ROOT = Path(__file__).resolve().parents[1]
REAL_DEV = ROOT.parent / "shared" / "data" / "real-dev"
STRENGTHS = (0.25, 0.5, 1.0)
MIAS_CALC = ("mdb209", "mdb211", "mdb212", "mdb213", "mdb214")


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
        for row in csv.DictReader(f):
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
    return {"clean": clean, "any_clean": any_clean, "injected": injected,
            "flagged_clean_ids": {d: [images[i][0] for i, f in enumerate(clean[d]) if f] for d in DETECTORS}}


def table(res: dict[str, Any]) -> dict[str, Any]:
    """Return per detector: FP rate on clean and per strength recall / precision."""
    out: dict[str, Any] = {"fp_rate_any": float(np.mean(res["any_clean"])) if res["any_clean"] else None}
    for d in DETECTORS:
        fp = int(np.sum(res["clean"][d]))
        n = len(res["clean"][d])
        per = {}
        for s, flags in res["injected"][d].items():
            tp = int(np.sum(flags))
            per[s] = {"recall": tp / len(flags) if flags else None,
                      "precision": tp / (tp + fp) if tp + fp else None, "n": len(flags)}
        out[d] = {"fp_rate": fp / n if n else None, "n_clean": n, "by_strength": per,
                  "flagged_clean": res["flagged_clean_ids"][d]}
    return out


def calc_validation(n: int) -> dict[str, Any]:
    """Return recall/precision of calcification detection on phantom truth (2-4 px, contrast >= 0.1)."""
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    cfg = FindingsConfig(p_calcifications=1.0, p_marker=0.3, p_text=0.5)
    tp = fp = fn = 0
    for s in range(n):
        for v in ("CC", "MLO"):
            p = render_phantom(2000 + s, size=(320, 256), view=v, findings=cfg)
            found = detect_calcifications(p.image, compute_anatomy(p.image))
            visible = [(c.x, c.y) for c in p.truth.calcifications if 2 <= c.diameter_px <= 4 and c.contrast >= 0.1]
            every = [(c.x, c.y) for c in p.truth.calcifications]
            a, _, c = match_detections(found, visible)
            _, b, _ = match_detections(found, every)  # a detection of a faint/tiny truth is not a false positive
            tp, fp, fn = tp + a, fp + b, fn + c
    return {"recall": tp / max(1, tp + fn), "precision": tp / max(1, tp + fp), "tp": tp, "fp": fp, "fn": fn,
            "n_images": 2 * n, "criterion": "diameter 2-4 px, contrast >= 0.1, match within 2.5 px"}


def mias_figure(path: Path) -> list[dict[str, Any]]:
    """Draw the detections on the mini-MIAS calcification cases; return per-case counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mammoeval.data.readers import read_image

    files = [REAL_DEV / f"mias_{m}.pgm" for m in MIAS_CALC if (REAL_DEV / f"mias_{m}.pgm").exists()]
    if not files:
        return []
    fig, axes = plt.subplots(1, len(files), figsize=(4 * len(files), 4.6))
    out = []
    for ax, f in zip(np.atleast_1d(axes), files, strict=True):
        img = read_image(f).pixels
        row, det = check_image(img, view="MLO", image_id=f.stem)
        work = reduce_to_height(img, 1280)[0]
        if row.chest_wall_side == "right":
            work = work[:, ::-1]
        ax.imshow(work, cmap="gray", vmin=0, vmax=1)
        ax.scatter([c.x for c in det.calcs], [c.y for c in det.calcs], s=40, facecolors="none",
                   edgecolors=["red" if c.cluster >= 0 else "yellow" for c in det.calcs], linewidths=0.8)
        ax.set_title(f"{f.stem}: {row.n_calcs} calcs, {row.n_clusters} clusters", fontsize=9)
        ax.axis("off")
        out.append({"id": f.stem, "n_calcs": row.n_calcs, "n_clusters": row.n_clusters})
    fig.suptitle("Calcification detections (yellow: single, red: in a cluster); chest wall left", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return out


def render_md(report: dict[str, Any]) -> str:
    """Return the Markdown report."""
    lines = ["# QA detector benchmark (injected artifacts)", "",
             f"Generated by `benchmarks/qa_detectors.py` in {report['seconds']:.0f} s on a shared 2-core CPU.",
             f"Strengths {list(STRENGTHS)}; 'clearly visible' = strength >= 0.5. Precision = TP / (TP + FP) with "
             "the same number of clean images of the same set. Real images are box-reduced to <= "
             f"{report['real_height']} rows for speed.", ""]
    for name in ("phantom", "real"):
        t = report["sets"].get(name)
        if not t:
            lines += [f"## {name}: not available", ""]
            continue
        lines += [f"## {name} ({report['n_images'][name]} clean images; any-detector FP rate "
                  f"{t['fp_rate_any']:.1%})", "", "| detector | FP rate clean | " +
                  " | ".join(f"recall@{s} / prec@{s}" for s in STRENGTHS) + " |",
                  "|---|---|" + "---|" * len(STRENGTHS)]
        for d in DETECTORS:
            r = t[d]
            cells = [f"{r['by_strength'][str(s)]['recall']:.2f} / {(r['by_strength'][str(s)]['precision'] or 0):.2f}"
                     for s in STRENGTHS]
            lines.append(f"| {d} | {r['fp_rate']:.1%} | " + " | ".join(cells) + " |")
        flagged = {d: t[d]["flagged_clean"] for d in DETECTORS if t[d]["flagged_clean"]}
        lines += ["", f"Clean images flagged: {flagged or 'none'}", ""]
    c = report["calcifications"]
    lines += ["## Calcifications on phantom ground truth", "",
              f"{c['criterion']}: recall {c['recall']:.3f}, precision {c['precision']:.3f} "
              f"(TP {c['tp']}, FP {c['fp']}, FN {c['fn']}, {c['n_images']} images). Targets: recall >= 0.9, "
              "precision >= 0.8.", "", "## mini-MIAS calcification cases", "",
              "![detections](qa_calcs_mias.png)", "", str(report["mias"]), ""]
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
    if real:
        sets["real"] = table(evaluate(real, seed=2))
    out = ROOT / "reports"
    out.mkdir(exist_ok=True)
    report = {"sets": sets, "n_images": {"phantom": len(phantoms), "real": len(real)},
              "strengths": list(STRENGTHS), "real_height": args.real_height,
              "calcifications": calc_validation(args.n_phantoms * 2),
              "mias": mias_figure(out / "qa_calcs_mias.png")}
    report["seconds"] = time.time() - t0
    write_json_atomic(out / "qa_detectors.json", report)
    write_text_atomic(out / "qa_detectors.md", render_md(report))
    print(render_md(report))


if __name__ == "__main__":
    main()
