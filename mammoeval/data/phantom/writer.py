"""write_phantom_dataset: a prepared dataset of phantoms plus its ground-truth sidecar findings.json.

Image ``i`` of a dataset made with seed ``S`` is ``render_phantom(phantom_seed(S, i), ...)`` (``phantom_seed``: stream
``Stream.PHANTOM_IMAGE`` of ``S``, item ``i``) with view
``("CC", "MLO")[i % 2]`` and laterality ``("L", "R")[(i // 2) % 2]``, so it depends on ``(S, i)``
only: any number of workers, a resumed run and a larger ``n`` all give the same images.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval.core.fsutil import remove_orphan_temps, sha256_file, write_bytes_atomic, write_json_atomic
from mammoeval.core.jsonl import append_jsonl, read_jsonl
from mammoeval.core.progress import progress_bar
from mammoeval.core.seeding import Stream, check_seed, stream_seed
from mammoeval.core.views import LATERALITIES, VIEWS
from mammoeval.data.phantom.render import render_phantom
from mammoeval.data.phantom.truth import (
    FindingsConfig,
    PhantomRecord,
    record_from_json,
    record_to_json,
    truth_to_record,
)
from mammoeval.data.prepared import (
    DatasetInfo,
    ManifestRecord,
    encode_png,
    finalize_dataset,
    image_relpath,
    write_image,
)

TRUTH_FILE = "findings.json"
TRUTH_FORMAT = "mammoeval-phantom-truth"
TRUTH_VERSION = 2
"""Version of findings.json and of the per-image seed rule (`phantom_seed`); another version is not resumed."""
PARTIAL_FILE = "findings.partial.jsonl"
"""Per-image truth appended while writing; lets an interrupted run resume; removed when done."""
BITS = 8


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    size: tuple[int, int]
    findings: FindingsConfig
    out: str
    raw_dir: str | None


def phantom_id(index: int) -> str:
    """Return the image id of dataset index `index` (``phantom-000123``)."""
    return f"phantom-{index:06d}"


def phantom_labels(index: int) -> tuple[str, str]:
    """Return (view, laterality) of dataset index `index`: CC/MLO alternate, L/R alternate per pair."""
    return VIEWS[index % 2], LATERALITIES[(index // 2) % 2]


def phantom_seed(seed: int, index: int) -> int:
    """Return the render_phantom seed of image `index` in a dataset made with `seed`: stream
    `Stream.PHANTOM_IMAGE` of `seed`, item `index`."""
    return stream_seed(seed, Stream.PHANTOM_IMAGE, index)


def raw_name(index: int) -> str:
    """Return the raw PNG file name of image `index`, e.g. ``phantom-000123_R_MLO.png``."""
    view, lat = phantom_labels(index)
    return f"{phantom_id(index)}_{lat}_{view}.png"


def write_phantom_dataset(
    out: str | Path,
    *,
    n: int,
    size: tuple[int, int] = (320, 256),
    seed: int = 0,
    findings: FindingsConfig = FindingsConfig(),
    raw_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> DatasetInfo:
    """Write `n` phantoms as a prepared dataset (8-bit PNGs) at `out` with findings.json; return its info.

    Resumable: images whose PNG (and raw PNG, when asked for) and truth row already exist from an
    earlier run with the same size, seed and findings options are not rendered again.

    Args:
        out: dataset directory (created).
        n: number of images; views and lateralities are balanced (equal when n is a multiple of 4).
        size: (height, width) in pixels.
        seed: dataset seed; image i depends on (seed, i) only.
        findings: findings options (`FindingsConfig.none()` for clean phantoms).
        raw_dir: also write each image before canonical flipping (right breasts mirrored, chest wall
            on the right) as an 8-bit PNG named like ``phantom-000123_R_MLO.png``.
        workers: processes rendering in parallel (1 = in this process).
        progress: show a rich progress bar.

    Raises:
        ConfigError: n < 1, workers < 1, seed < 0, bad size, or `out` holds phantoms made with other options.
    """
    check_seed(seed, "phantom dataset seed")
    if n < 1:
        raise ConfigError(f"number of phantoms must be >= 1, got {n}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    render_phantom(0, size=size, findings=FindingsConfig.none())  # validates size before any file is written
    out = Path(out)
    if out.is_dir():
        remove_orphan_temps(out)  # left by a run killed in the middle of a write
    options = _options(size, seed, findings)
    done = _resume_rows(out, options)
    _write_options(out, options)
    jobs = [_Job(i, seed, size, findings, str(out), None if raw_dir is None else str(raw_dir)) for i in range(n)]
    todo = [j for j in jobs if not _is_done(j, done)]
    for row in _run(todo, workers=workers, progress=progress, total=n, completed=n - len(todo)):
        append_jsonl(out / PARTIAL_FILE, row)
        done[row["id"]] = row
    records = [_manifest_record(out, j, done[phantom_id(j.index)]) for j in jobs]
    info = finalize_dataset(out, records, height=size[0], width=size[1], bits=BITS, source=f"phantom seed={seed}")
    images = {phantom_id(j.index): done[phantom_id(j.index)]["truth"] for j in jobs}
    write_json_atomic(out / TRUTH_FILE, {**options, "images": images})
    (out / PARTIAL_FILE).unlink(missing_ok=True)
    return info


def read_phantom_truth(root: str | Path) -> dict[str, PhantomRecord]:
    """Return the ground truth of a phantom dataset: image id -> record (no masks; re-render for those).

    Raises:
        BadInputError: findings.json is missing, unreadable or malformed (names the file).
    """
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        raise BadInputError(path, "no phantom ground truth here; make it with `mammoeval data phantom`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != TRUTH_FORMAT:
            raise ValueError(f"format is {raw.get('format')!r}, expected {TRUTH_FORMAT!r}")
        return {k: record_from_json(v) for k, v in sorted(raw["images"].items())}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInputError(path, f"malformed phantom ground truth ({type(e).__name__}: {e})") from None


def read_phantom_options(root: str | Path) -> tuple[tuple[int, int], int, FindingsConfig]:
    """Return (size, seed, findings options) a phantom dataset was made with, to re-render its images.

    Raises:
        BadInputError: findings.json is missing or malformed.
    """
    path = Path(root) / TRUTH_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return (int(raw["size"][0]), int(raw["size"][1])), int(raw["seed"]), FindingsConfig.from_dict(raw["findings"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as e:
        raise BadInputError(path, f"cannot read phantom options ({type(e).__name__}: {e})") from None


def _options(size: tuple[int, int], seed: int, findings: FindingsConfig) -> dict[str, Any]:
    return {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "size": [int(size[0]), int(size[1])],
        "seed": int(seed),
        "findings": findings.to_dict(),
    }


def _write_options(out: Path, options: dict[str, Any]) -> None:
    write_json_atomic(out / TRUTH_FILE, {**options, "images": _existing_images(out)})


def _existing_images(out: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((out / TRUTH_FILE).read_text(encoding="utf-8")).get("images", {}))
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}


def _resume_rows(out: Path, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return truth rows (id -> row) left by an earlier run with the same options.

    Raises:
        ConfigError: `out` holds phantoms made with other options.
    """
    path = out / TRUTH_FILE
    if not path.is_file():
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if any(old.get(k) != v for k, v in options.items()):
        raise ConfigError(
            f"{out} holds phantoms made with other options (size, seed or findings); use another --out or delete it"
        )
    rows = {k: {"id": k, "truth": v} for k, v in old.get("images", {}).items()}
    rows.update({r["id"]: r for r in read_jsonl(out / PARTIAL_FILE) if "id" in r and "truth" in r})
    return rows


def _is_done(job: _Job, done: dict[str, dict[str, Any]]) -> bool:
    image_id = phantom_id(job.index)
    if image_id not in done or not (Path(job.out) / image_relpath(image_id)).is_file():
        return False
    return job.raw_dir is None or (Path(job.raw_dir) / raw_name(job.index)).is_file()


def _render_job(job: _Job) -> dict[str, Any]:
    """Render and write one phantom (prepared PNG and optional raw PNG); return its truth row."""
    view, lat = phantom_labels(job.index)
    s = phantom_seed(job.seed, job.index)
    ph = render_phantom(s, size=job.size, view=view, laterality=lat, findings=job.findings)
    image_id = phantom_id(job.index)
    write_image(job.out, image_id, ph.image, bits=BITS)
    if job.raw_dir is not None:
        raw = ph.image[:, ::-1] if lat == "R" else ph.image
        write_bytes_atomic(Path(job.raw_dir) / raw_name(job.index), encode_png(np.ascontiguousarray(raw), bits=BITS))
    return {"id": image_id, "truth": record_to_json(truth_to_record(ph.truth, s))}


def _manifest_record(out: Path, job: _Job, row: dict[str, Any]) -> ManifestRecord:
    image_id = phantom_id(job.index)
    view, lat = phantom_labels(job.index)
    rel = image_relpath(image_id)
    return ManifestRecord(
        id=image_id,
        file=rel,
        view=view,
        laterality=lat,
        source=raw_name(job.index),
        orig_height=job.size[0],
        orig_width=job.size[1],
        scale=1.0,
        flipped=lat == "R",
        sha256=sha256_file(out / rel),
    )


def _run(todo: list[_Job], *, workers: int, progress: bool, total: int, completed: int) -> Iterator[dict[str, Any]]:
    """Yield the truth row of each job (in job order), rendering in `workers` processes."""
    with progress_bar("phantoms", total=total, completed=completed, enabled=progress) as bar:
        if workers == 1 or len(todo) <= 1:
            for job in todo:
                row = _render_job(job)
                bar.advance()
                yield row
            return
        # spawn, not fork: the caller may hold threads (torch, rich) that fork would copy mid-lock.
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for row in pool.map(_render_job, todo, chunksize=max(1, min(16, len(todo) // (4 * workers)))):
                bar.advance()
                yield row
