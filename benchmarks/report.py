"""Benchmark: size and render time of a two-view report with the default grids at 1280x1024.

Builds a constructed run directory whose generator returns 1280x1024 phantoms (rendered once, then
shifted per seed so that no two images are identical) and whose dataset holds
1280x1024 phantoms, then times `gather_run` and `render_report` with the default `ReportOptions`
(30 generated images per view, 5 real-vs-generated pairs, QA galleries, figures).

Writes reports/report.json and reports/report.md. Run: ``python benchmarks/report.py``.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mammoeval.core.fsutil import write_json_atomic, write_text_atomic  # noqa: E402
from mammoeval.data.phantom import render_phantom  # noqa: E402
from mammoeval.data.prepared import ManifestRecord, finalize_dataset, write_image  # noqa: E402
from mammoeval.report.context import ReportOptions  # noqa: E402
from mammoeval.report.gather import gather_run  # noqa: E402
from mammoeval.report.html import render_report  # noqa: E402
from tests.report.conftest import make_run  # noqa: E402

SIZE = (1280, 1024)
N_BASE = 6  # distinct phantoms per view


class VariedPhantoms:
    """Generator stand-in: a base phantom per (seed mod N_BASE, view), shifted by a seed-dependent amount."""

    def __init__(self, bases: dict[tuple[int, int], np.ndarray]) -> None:
        self.bases = bases
        self.resolution = SIZE
        self.n_images_shown = 240_000

    def generate(self, seeds: Sequence[int], views: torch.Tensor, *, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> torch.Tensor:
        out = []
        for s, v in zip(seeds, views.tolist(), strict=True):
            # a vertical shift makes each seed a different image with the base's compressibility
            out.append(np.roll(self.bases[(int(s) % N_BASE, int(v))], 7 * (int(s) // N_BASE), axis=0))
        return torch.from_numpy(np.stack(out))[:, None]


def main() -> None:
    t0 = time.perf_counter()
    bases = {(i, v): render_phantom(500 + i, size=SIZE, view=("CC", "MLO")[v]).image
             for i in range(N_BASE) for v in (0, 1)}
    t_phantoms = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / "dataset"
        records = []
        for (i, v), img in bases.items():
            rid = f"real-{('CC', 'MLO')[v]}-{i}"
            rel, digest = write_image(ds, rid, img, bits=8)
            records.append(ManifestRecord(id=rid, file=rel, view=("CC", "MLO")[v], laterality="L", sha256=digest))
        finalize_dataset(ds, records, height=SIZE[0], width=SIZE[1], bits=8)
        run = make_run(Path(tmp) / "run", ds)
        gen = VariedPhantoms(bases)
        options = ReportOptions()
        t1 = time.perf_counter()
        data = gather_run(run, options=options, load_generator=lambda p: gen, progress=False)
        t_gather = time.perf_counter() - t1
        t2 = time.perf_counter()
        res = render_report(data, Path(tmp) / "report")
        t_render = time.perf_counter() - t2
        assets = list((Path(tmp) / "report" / "assets").iterdir())
        sizes = {kind: sum(p.stat().st_size for p in assets if pick(p.name)) / 1e6 for kind, pick in (
            ("thumb_mb", lambda n: n.endswith(".thumb.png")), ("fig_mb", lambda n: n.startswith("fig-")),
            ("full_mb", lambda n: not n.endswith(".thumb.png") and not n.startswith("fig-")))}
        qa = "on" if not any("qa" in v.notes for v in data.views) else "off (mammoeval.qa.scan missing)"
    result = {
        "size": list(SIZE), "views": 2, "options": options.__dict__, "n_images": res.n_images,
        "report_mb": res.size_bytes / 1e6, "gather_s": t_gather, "render_s": t_render,
        "phantom_setup_s": t_phantoms, "qa": qa, "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": __import__("os").cpu_count(), **sizes,
    }
    write_json_atomic(ROOT / "reports" / "report.json", result)
    md = f"""# Report size and speed (1280x1024, two views, default grids)

`python benchmarks/report.py` on {result['cpu_count']} CPU cores (shared with other jobs while measured,
so times are pessimistic). Generated images are 1280x1024 phantoms (shifted per seed); reals are
1280x1024 phantoms ({N_BASE} per view, so fewer real images than a real dataset would show).

| what | value | target |
|---|---|---|
| report size (index.html + assets + report.json) | {result['report_mb']:.1f} MB | < 25 MB |
| of which full-resolution images / thumbnails / figures | {result['full_mb']:.1f} / {result['thumb_mb']:.1f} / {result['fig_mb']:.1f} MB | |
| images written (full resolution + thumbnail each) | {res.n_images} | |
| gather (generation, real sampling, QA {qa}, MS-SSIM) | {t_gather:.1f} s | |
| render (assets, figures, HTML) | {t_render:.1f} s | a few seconds |
"""
    write_text_atomic(ROOT / "reports" / "report.md", md)
    print(md)


if __name__ == "__main__":
    main()
