"""Export a trained generator's images: PNG (8 or 16 bit) or synthetic-marked DICOM, plus a manifest.

Image i of an export of N per view comes from latent seed ``seed + i``: CC images first
(i < N), then MLO, exactly the images `mammoeval score` generates for the same seed and N, so an
export shows what was scored. With one view, seeds run ``seed .. seed + N - 1``.

Files (OUT/)::

    CC_L_seed000000.png | .dcm   one file per image, named with view, laterality and seed
    manifest.csv                 file,view,laterality,seed,checkpoint,format,bits,sha256
    manifest.json                the export settings (checkpoint, its SHA-256, kimg, seeds,
                                 resolution, format, time, versions) and the same rows

and one line in RUN/exports.jsonl, so the run's report can link the export.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch

from mammoeval import __version__
from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval.core.fsutil import (
    append_jsonl,
    read_json,
    sha256_file,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from mammoeval.core.progress import progress_bar
from mammoeval.core.rundir import BEST_FILE, CHECKPOINT_DIR, list_checkpoints, read_config
from mammoeval.core.seeding import check_seed
from mammoeval.data.prepared import encode_png
from mammoeval.export.dicom import new_series, write_mg_dicom
from mammoeval_train.generate import load_generator

ExportFormat = Literal["png", "dicom"]
MANIFEST_CSV: Final = "manifest.csv"
MANIFEST_JSON: Final = "manifest.json"
EXPORTS_FILE: Final = "exports.jsonl"
"""RUN/exports.jsonl: one line per export of the run (where, when, what); the report links them."""
MANIFEST_COLUMNS: Final[tuple[str, ...]] = ("file", "view", "laterality", "seed", "checkpoint", "format", "bits",
                                            "sha256")
EXPORT_LATERALITY: Final = "L"
"""Generated images are in the canonical orientation (chest wall left), as a left breast is displayed."""


@dataclass(frozen=True)
class ExportSettings:
    """What to export.

    Attributes:
        n_per_view: images per exported view.
        seed: first latent seed.
        views: views to export, in order ("CC", "MLO" or both).
        format: "png" or "dicom".
        bits: PNG bit depth (8 or 16), or DICOM Bits Stored (8..16; default 12 where None).
        checkpoint: checkpoint file name in RUN/checkpoints (None: best.json's, else the newest).
        pixel_spacing_mm: DICOM Imager Pixel Spacing in mm (None: not written).
        device: torch device for generation.
        batch_size: images per forward pass (does not change the images).
    """

    n_per_view: int
    seed: int = 0
    views: tuple[str, ...] = ("CC", "MLO")
    format: ExportFormat = "png"
    bits: int | None = None
    checkpoint: str | None = None
    pixel_spacing_mm: float | None = None
    device: str = "cpu"
    batch_size: int = 16

    def __post_init__(self) -> None:
        check_seed(self.seed, "--seed")
        if self.n_per_view < 1:
            raise ConfigError(f"--n must be >= 1, got {self.n_per_view}")
        if self.format not in ("png", "dicom"):
            raise ConfigError(f"--format must be png or dicom, got {self.format!r}")
        bad = [v for v in self.views if v not in ("CC", "MLO")]
        if bad or not self.views:
            raise ConfigError(f"--view must be CC or MLO, got {bad[0] if bad else 'nothing'!r}")
        if self.format == "png" and self.bits not in (None, 8, 16):
            raise ConfigError(f"--bits for PNG must be 8 or 16, got {self.bits}")
        if self.pixel_spacing_mm is not None and not self.pixel_spacing_mm > 0:
            raise ConfigError(f"--pixel-spacing must be > 0 mm, got {self.pixel_spacing_mm}")
        if self.format == "dicom" and self.bits is not None and not 8 <= self.bits <= 16:
            raise ConfigError(f"--bits for DICOM (Bits Stored) must be in 8..16, got {self.bits}")

    @property
    def resolved_bits(self) -> int:
        """Bits actually written: the given ones, else 8 for PNG and 12 for DICOM."""
        return self.bits if self.bits is not None else (8 if self.format == "png" else 12)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        out: the export folder.
        checkpoint: the checkpoint file used.
        chosen_by: "--checkpoint", "best.json" or "newest checkpoint".
        rows: one manifest row per image (MANIFEST_COLUMNS).
        manifest_csv, manifest_json: the manifest files.
    """

    out: Path
    checkpoint: Path
    chosen_by: str
    rows: tuple[dict[str, Any], ...]
    manifest_csv: Path
    manifest_json: Path


def export_name(view: str, seed: int, fmt: ExportFormat) -> str:
    """Return the file name of one exported image, e.g. ``CC_L_seed000003.png``."""
    return f"{view}_{EXPORT_LATERALITY}_seed{seed:06d}.{'png' if fmt == 'png' else 'dcm'}"


def export_seeds(settings: ExportSettings) -> list[tuple[str, int]]:
    """Return (view, seed) per image in export order (see the module docstring for the seed rule)."""
    n, s = settings.n_per_view, settings.seed
    if tuple(settings.views) == ("CC", "MLO"):
        return [("CC", s + i) for i in range(n)] + [("MLO", s + n + i) for i in range(n)]
    return [(v, s + k * n + i) for k, v in enumerate(settings.views) for i in range(n)]


def resolve_checkpoint(run_dir: str | Path, name: str | None) -> tuple[Path, str]:
    """Return (checkpoint path, how it was chosen): `name`, else best.json's, else the newest.

    Raises:
        BadInputError: not a run dir, no checkpoints, an unknown name, or a best.json naming a missing file.
    """
    run = Path(run_dir)
    read_config(run)
    refs = list_checkpoints(run)
    if name is not None:
        path = Path(name) if Path(name).is_absolute() else run / CHECKPOINT_DIR / Path(name).name
        if not path.is_file():
            valid = ", ".join(r.name for r in refs[-5:]) or "none"
            raise BadInputError(path, f"no such checkpoint (newest: {valid})")
        return path, "--checkpoint"
    best = run / BEST_FILE
    if best.is_file():
        obj = read_json(best)
        ckpt = obj.get("checkpoint") if isinstance(obj, dict) else None
        if not isinstance(ckpt, str) or not ckpt:
            raise BadInputError(best, "names no checkpoint; rerun `mammoeval score` or pass --checkpoint")
        path = run / CHECKPOINT_DIR / ckpt
        if not path.is_file():
            raise BadInputError(best, f"names {ckpt}, which is not in {run / CHECKPOINT_DIR}; pass --checkpoint")
        return path, BEST_FILE
    if not refs:
        raise BadInputError(run / CHECKPOINT_DIR, "holds no checkpoints (ckpt-NNNNNNNNNN.pt) to generate from")
    return refs[-1].path, "newest checkpoint"


def generate_export(run_dir: str | Path, out: str | Path, settings: ExportSettings, *,
                    progress: bool = True) -> ExportResult:
    """Generate `settings.n_per_view` images per view from a run's checkpoint into `out`.

    Raises:
        BadInputError: the run or checkpoint is unusable (missing, corrupt, NaN weights, cannot generate).
        ConfigError: invalid settings.
    """
    ckpt, chosen_by = resolve_checkpoint(run_dir, settings.checkpoint)
    gen = load_generator(ckpt, device=settings.device)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = export_seeds(settings)
    series = None
    if settings.format == "dicom":

        series = new_series(f"{Path(run_dir).name} {ckpt.name}", software_version=__version__)
    rows: list[dict[str, Any]] = []
    with progress_bar("generating", total=len(items), enabled=progress, transient=True) as bar:
        for start in range(0, len(items), settings.batch_size):
            chunk = items[start:start + settings.batch_size]
            views = torch.tensor([0 if v == "CC" else 1 for v, _ in chunk], dtype=torch.int64)
            images = _generate(gen, [s for _, s in chunk], views, settings, ckpt)
            for k, (view, seed) in enumerate(chunk):
                rows.append(_write_one(out_dir, images[k, 0].numpy(), view=view, seed=seed, index=start + k + 1,
                                       settings=settings, checkpoint=ckpt.name, series=series))
            bar.advance(len(chunk))
    meta = {
        "run_dir": str(Path(run_dir)), "checkpoint": ckpt.name, "checkpoint_sha256": sha256_file(ckpt),
        "chosen_by": chosen_by, "n_images_shown": gen.n_images_shown, "kimg": gen.n_images_shown / 1000.0,
        "resolution": list(gen.resolution), "n_per_view": settings.n_per_view, "views": list(settings.views),
        "seed": settings.seed, "seed_rule": "CC seeds seed..seed+N-1, then MLO seed+N..seed+2N-1 (one view: "
        "seed..seed+N-1 per view in order)", "format": settings.format, "bits": settings.resolved_bits,
        "laterality": EXPORT_LATERALITY, "synthetic": True,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"mammoeval": __version__, "torch": torch.__version__},
        "images": rows,
    }
    csv_path, json_path = write_manifest(out_dir, rows, meta)
    append_jsonl(Path(run_dir) / EXPORTS_FILE, {
        "out": str(out_dir.resolve()), "manifest": str(json_path.resolve()), "checkpoint": ckpt.name,
        "format": settings.format, "bits": settings.resolved_bits, "n_images": len(rows),
        "views": list(settings.views), "seed": settings.seed, "created": meta["created"]})
    return ExportResult(out=out_dir, checkpoint=ckpt, chosen_by=chosen_by, rows=tuple(rows),
                        manifest_csv=csv_path, manifest_json=json_path)


def _generate(gen: Any, seeds: Sequence[int], views: Any, settings: ExportSettings, ckpt: Path) -> Any:
    """Return generated images [n, 1, H, W] in [0, 1], or raise BadInputError naming the checkpoint."""
    try:
        images = gen.generate(list(seeds), views, batch_size=settings.batch_size, device=settings.device)
    except (RuntimeError, ValueError) as e:
        text = str(e).strip().splitlines()
        raise BadInputError(ckpt, f"cannot generate ({text[0][:200] if text else type(e).__name__})") from None
    if not bool(torch.isfinite(images).all()):
        raise BadInputError(ckpt, "the generator produced NaN or infinite pixels")
    return images


def _write_one(out_dir: Path, image: np.ndarray, *, view: str, seed: int, index: int, settings: ExportSettings,
               checkpoint: str, series: Any) -> dict[str, Any]:
    name = export_name(view, seed, settings.format)
    path = out_dir / name
    if settings.format == "png":
        data = encode_png(image, bits=settings.resolved_bits)
        write_bytes_atomic(path, data)
        digest = hashlib.sha256(data).hexdigest()
    else:

        write_mg_dicom(path, image, view=view, seed=seed, instance_number=index, series=series,
                       source=f"mammoeval checkpoint {checkpoint}", bits_stored=settings.resolved_bits,
                       pixel_spacing_mm=settings.pixel_spacing_mm)
        digest = sha256_file(path)
    return {"file": name, "view": view, "laterality": EXPORT_LATERALITY, "seed": seed, "checkpoint": checkpoint,
            "format": settings.format, "bits": settings.resolved_bits, "sha256": digest}


def write_manifest(out_dir: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write manifest.csv (MANIFEST_COLUMNS) and manifest.json atomically; return both paths."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(out_dir / MANIFEST_CSV, buf.getvalue())
    write_json_atomic(out_dir / MANIFEST_JSON, meta)
    return out_dir / MANIFEST_CSV, out_dir / MANIFEST_JSON
