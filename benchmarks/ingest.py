"""Ingest speed and memory: `prepare_dataset` on synthetic FFDM-sized DICOMs (and real-dev when present).

Writes reports/ingest.json and reports/ingest.md. Run: `python benchmarks/ingest.py [--n 8]`.
Timings depend on the machine and on other load; the Markdown says what the machine was doing.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic

REPORTS = Path(__file__).resolve().parents[1] / "reports"
REAL_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-dev"
FFDM_SHAPE = (3328, 2560)  # a common FFDM detector size, 14 bits stored


def write_synthetic_dicoms(root: Path, n: int, rng: np.random.Generator) -> None:
    """Write `n` uncompressed 14-bit MONOCHROME2 MG DICOMs of FFDM size with a half-ellipse breast."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    h, w = FFDM_SHAPE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((yy - h / 2) / (0.45 * h)) ** 2 + (xx / (0.7 * w)) ** 2
    base = np.where(r2 < 1, 4000 + 9000 * (1 - r2), 200).astype(np.float32)
    for i in range(n):
        arr = np.clip(base + rng.normal(0, 300, base.shape), 0, 16383).astype(np.uint16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.Modality, ds.ViewPosition, ds.ImageLaterality = "MG", ("CC", "MLO")[i % 2], ("L", "R")[i // 2 % 2]
        ds.Rows, ds.Columns = h, w
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 14, 13, 0
        ds.WindowCenter, ds.WindowWidth = 8000, 12000
        ds.PixelData = (arr if i // 2 % 2 == 0 else arr[:, ::-1].copy()).tobytes()
        ds.save_as(root / f"img{i:03d}.dcm", enforce_file_format=True)


def time_prepare(src: Path, out: Path, *, workers: int, size: tuple[int, int], **kw: object) -> dict[str, float]:
    """Return seconds and images/s of one cold `prepare_dataset` run, plus the resume time."""
    from mammoeval.data.prepare import prepare_dataset

    t0 = time.perf_counter()
    s = prepare_dataset(src, out, size=size, workers=workers, progress=False, **kw)  # type: ignore[arg-type]
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare_dataset(src, out, size=size, workers=workers, progress=False, **kw)  # type: ignore[arg-type]
    warm = time.perf_counter() - t0
    return {"images": s.n_prepared, "seconds": round(cold, 2), "images_per_s": round(s.n_prepared / cold, 2),
            "resume_noop_seconds": round(warm, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=8, help="synthetic DICOMs")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    results: dict[str, object] = {"cpu_count": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0],
                                  "ffdm_shape": FFDM_SHAPE, "target": [1280, 1024]}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        write_synthetic_dicoms(src, args.n, rng)
        for workers in (1, 2):
            results[f"synthetic_ffdm_workers{workers}"] = time_prepare(src, Path(tmp) / f"o{workers}",
                                                                      workers=workers, size=(1280, 1024))
        if (REAL_DEV / "labels.csv").is_file():
            results["real_dev_workers2"] = time_prepare(REAL_DEV, Path(tmp) / "real", workers=2,
                                                        size=(1280, 1024), allowed_modalities=("MG", "RG"))
    results["peak_rss_mb_main"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["peak_rss_mb_workers"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    results["load_avg_1min_at_end"] = os.getloadavg()[0]
    write_json_atomic(REPORTS / "ingest.json", results)
    write_text_atomic(REPORTS / "ingest.md", render_markdown(results))
    print((REPORTS / "ingest.md").read_text())


def render_markdown(r: dict[str, object]) -> str:
    """Return the Markdown report of the benchmark results."""
    lines = ["# Ingest benchmark (`mammoeval data prepare`)", "",
             f"Machine: {r['cpu_count']} CPUs, shared with other jobs (1-minute load average "
             f"{r['load_avg_1min_at_start']:.1f} at start, {r['load_avg_1min_at_end']:.1f} at end), so the "
             "numbers are pessimistic. Synthetic sources: uncompressed 14-bit MG DICOMs of "
             f"{r['ffdm_shape'][0]}x{r['ffdm_shape'][1]} to 1280x1024, 8-bit output.", "",
             "| run | images | seconds | images/s | no-op rerun (s) |", "|---|---|---|---|---|"]
    for key, v in r.items():
        if isinstance(v, dict):
            lines.append(f"| {key} | {v['images']} | {v['seconds']} | {v['images_per_s']} | {v['resume_noop_seconds']} |")
    lines += ["", f"Peak resident memory: main process {r['peak_rss_mb_main']} MB, largest worker "
              f"{r['peak_rss_mb_workers']} MB (one full-resolution image and its float32 copies per worker).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
