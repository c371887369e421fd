"""`mammoeval data prepare`: walk a source folder, turn every usable mammogram into the prepared
dataset format (see `mammoeval.data.prepared`), and record why each other file was skipped.

Per file (in a worker process): header facts -> exclusions (implant, modality, view filter) ->
decode to [0, 1] grey (readers.py) -> labels (label manifest > DICOM tags > file name > chest-wall
side) -> canonical flip (chest wall LEFT, decided from the pixels, because stored orientation does
not always follow laterality) -> fit-downsample + zero pad (preprocess.py) -> one PNG.

Resumable: every finished file (prepared or skipped) is appended to ``OUT/.prepare/journal.jsonl``
with a fingerprint of the source (path, size, mtime), its given labels and the options; a rerun
reuses matching entries and processes only the rest, then finalizes manifest.csv, skipped.csv,
lowres.npy and dataset.json. Output is identical for any number of workers: ids are a function of
the source path only, and the manifest is sorted by id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mammoeval.core.errors import BadInputError, ConfigError, MammoevalError
from mammoeval.core.filekind import file_kind_problem
from mammoeval.core.fsutil import printable_path, remove_orphan_temps
from mammoeval.core.jsonl import append_jsonl, read_jsonl, repair_tail
from mammoeval.core.progress import progress_bar
from mammoeval.data import preprocess as pp
from mammoeval.data.labels import LabelRow, infer_chest_wall, labels_from_name, read_label_manifest
from mammoeval.data.prepared import (
    INFO_FILE,
    LOWRES_FILE,
    DatasetInfo,
    ManifestRecord,
    finalize_dataset,
    write_image,
    write_skipped,
)
from mammoeval.data.readers import HeaderFacts, is_supported_file, read_header, read_image

JOURNAL_DIR = ".prepare"
JOURNAL_FILE = "journal.jsonl"
ORPHAN_LOWRES = LOWRES_FILE + ".tmp"
"""Temporary name of the low-resolution array while it is written (removed by the next run if orphaned)."""
MIN_CHEST_WALL_CONFIDENCE = 0.05
"""Below this chest-wall confidence a known laterality decides the flip (R = chest wall on the right)."""


@dataclass(frozen=True)
class PrepareOptions:
    """Everything that changes a prepared image (part of each file's fingerprint).

    Attributes:
        size: (height, width) of the prepared images in pixels.
        bits: 8 or 16 bits per stored pixel.
        allowed_modalities: DICOM Modality values accepted (others are skipped).
        allow_upsample: enlarge images smaller than the target in both dimensions instead of skipping.
        views: keep only these views (None = every view, unknown included).
    """

    size: tuple[int, int]
    bits: Literal[8, 16] = 8
    allowed_modalities: tuple[str, ...] = ("MG",)
    allow_upsample: bool = False
    views: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ConfigError(f"size must be two positive integers (height, width), got {self.size}")
        if self.bits not in (8, 16):
            raise ConfigError(f"bits must be 8 or 16, got {self.bits}")


@dataclass(frozen=True)
class Job:
    """One source file to prepare: relative path, absolute path, output id, given labels, fingerprint."""

    source: str
    path: str
    image_id: str
    labels: LabelRow | None
    fingerprint: str


@dataclass(frozen=True)
class Outcome:
    """What became of one source file: a manifest record, or the reason it was skipped."""

    source: str
    fingerprint: str
    record: ManifestRecord | None = None
    reason: str = ""


@dataclass(frozen=True)
class PrepareSummary:
    """Result of `prepare_dataset`.

    Attributes:
        out: the prepared dataset directory.
        info: its dataset.json contents (counts, content hash).
        n_sources: files found under the source (images and others).
        n_prepared: images in the dataset.
        n_processed: files handled in this run (the rest came from the journal of an earlier run).
        n_reused: files taken from the journal without redoing them.
        skipped: (source file, reason) for every file not used, sorted by file.
        skipped_file: path of skipped.csv.
    """

    out: Path
    info: DatasetInfo
    n_sources: int
    n_prepared: int
    n_processed: int
    n_reused: int
    skipped: tuple[tuple[str, str], ...]
    skipped_file: Path


class _Skip(Exception):
    """A file that is readable but excluded by a rule (implant, modality, view, size)."""


class OutputWriteError(MammoevalError):
    """The prepared dataset cannot be written (full disk, no permission): the run stops instead of
    recording a good source file as skipped."""


def default_workers() -> int:
    """Return min(4, CPU count): the default number of worker processes."""
    return max(1, min(4, os.cpu_count() or 1))


def prepare_dataset(
    src: str | Path,
    out: str | Path,
    *,
    size: tuple[int, int],
    bits: Literal[8, 16] = 8,
    manifest: str | Path | None = None,
    workers: int | None = None,
    allowed_modalities: Sequence[str] = ("MG",),
    allow_upsample: bool = False,
    views: Sequence[str] | None = None,
    progress: bool = True,
) -> PrepareSummary:
    """Prepare every usable mammogram under `src` into the prepared dataset `out`; return a summary.

    Args:
        src: source folder (searched recursively; hidden files and `out` itself are ignored).
        out: output directory (created; a partial earlier run there is resumed).
        size: (height, width) target in pixels, e.g. (1280, 1024).
        bits: 8 or 16 bits per stored pixel.
        manifest: optional CSV `path,view,laterality[,split]` (paths relative to `src`); its labels
            override DICOM tags and file names.
        workers: worker processes (None = min(4, CPU count); 1 = in this process).
        allowed_modalities: DICOM Modality values accepted ("MG" by default; add e.g. "RG").
        allow_upsample: enlarge images smaller than `size` in both dimensions instead of skipping them.
        views: keep only these views (e.g. ("CC", "MLO")); None keeps every view.
        progress: show a rich progress bar.

    Raises:
        BadInputError: `src` is not a folder, the label manifest is bad, or no image is usable
            (skipped.csv is written first, so the reasons are on disk).
        ConfigError: bad size, bits or workers.
    """
    opts = PrepareOptions(size=(int(size[0]), int(size[1])), bits=bits,
                          allowed_modalities=tuple(m.strip().upper() for m in allowed_modalities),
                          allow_upsample=allow_upsample,
                          views=None if views is None else tuple(v.strip().upper() for v in views))
    n_workers = default_workers() if workers is None else workers
    if n_workers < 1:
        raise ConfigError(f"workers must be >= 1, got {n_workers}")
    src_dir, out_dir = Path(src).resolve(), Path(out).resolve()
    if not src_dir.is_dir():
        raise BadInputError(src_dir, "source is not a folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(out_dir, "output exists and is not a folder")
    given = read_label_manifest(manifest) if manifest is not None else {}
    exclude = [out_dir] + ([Path(manifest).resolve()] if manifest is not None else [])
    sources, unsupported = list_sources(src_dir, exclude=exclude)
    jobs = make_jobs(src_dir, sources, given, opts)
    missing = [(p, "listed in the label manifest but not found in the source folder")
               for p in sorted(set(given) - set(sources))]

    if out_dir.is_dir():
        remove_orphan_temps(out_dir, extra=(ORPHAN_LOWRES,))  # left by a prepare killed mid-write
    journal = out_dir / JOURNAL_DIR / JOURNAL_FILE
    repair_tail(journal)
    done = _read_journal(journal)
    pending = [j for j in jobs if j.source not in done or done[j.source].fingerprint != j.fingerprint]
    if pending:
        (out_dir / INFO_FILE).unlink(missing_ok=True)  # the dataset is incomplete until finalized again
    for outcome in _run_with_progress(pending, opts, out_dir, n_workers, progress):
        append_jsonl(journal, _outcome_to_row(outcome))
        done[outcome.source] = outcome

    outcomes = [done[j.source] for j in jobs]
    records = [o.record for o in outcomes if o.record is not None]
    skipped = sorted((printable_path(f), reason) for f, reason in
                     unsupported + missing + [(o.source, o.reason) for o in outcomes if o.record is None])
    if not records:
        write_skipped(out_dir, skipped)
        raise BadInputError(src_dir, f"no usable image among {len(sources) + len(unsupported)} files "
                                     f"(reasons in {out_dir / 'skipped.csv'})")
    info = finalize_dataset(out_dir, records, height=opts.size[0], width=opts.size[1], bits=opts.bits,
                            source=str(src_dir), skipped=skipped)
    return PrepareSummary(out=out_dir, info=info, n_sources=len(sources) + len(unsupported),
                          n_prepared=len(records), n_processed=len(pending), n_reused=len(jobs) - len(pending),
                          skipped=tuple(skipped), skipped_file=out_dir / "skipped.csv")


def list_sources(src: Path, *, exclude: Sequence[Path] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    """Return (readable image paths, [(path, reason)] for other files), both relative POSIX and sorted.

    Hidden files and folders (name starting with ".") and anything under `exclude` are ignored.
    Nothing is opened here: symlink loops, dangling links, FIFOs, sockets and devices are listed
    among the others with their reason (from `os.stat` alone), and linked folders are not followed.
    """
    images: list[str] = []
    others: list[tuple[str, str]] = []
    excluded = {r for r in (_resolved(p) for p in exclude) if r is not None}
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        kept_dirs = []
        for d in sorted(dirnames):
            if d.startswith(".") or _resolved(here / d) in excluded:
                continue
            if (here / d).is_symlink():
                others.append(((here / d).relative_to(src).as_posix(), "symlink to a folder (not followed)"))
            else:
                kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or _resolved(path) in excluded:
                continue
            rel = path.relative_to(src).as_posix()
            problem = file_kind_problem(path)
            if problem is not None:
                others.append((rel, problem))
            elif is_supported_file(path):
                images.append(rel)
            else:
                others.append((rel, f"unsupported format {path.suffix or '(no suffix, not DICOM)'!r}"))
    return sorted(images), sorted(others)


def _resolved(path: Path) -> Path | None:
    """Return the resolved path, or None for a symlink loop (Path.resolve raises on one)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def make_image_id(source: str) -> str:
    """Return the stable id of a source path: sanitised stem (<= 48 chars) + "-" + 8 hex of its SHA-1."""
    stem = Path(source).name.rsplit(".", 1)[0] if "." in Path(source).name else Path(source).name
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:48] or "image"
    return f"{clean}-{hashlib.sha1(source.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def make_jobs(src: Path, sources: Sequence[str], given: dict[str, LabelRow], opts: PrepareOptions) -> list[Job]:
    """Return one job per source file, fingerprinted by path, size, mtime, given labels and options."""
    opts_key = json.dumps(dataclasses.asdict(opts), sort_keys=True)
    jobs = []
    for rel in sources:
        st = (src / rel).stat()
        labels = given.get(rel)
        key = f"{rel}|{st.st_size}|{st.st_mtime_ns}|{labels}|{opts_key}"
        jobs.append(Job(source=rel, path=str(src / rel), image_id=make_image_id(rel), labels=labels,
                        fingerprint=hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]))
    return jobs


def prepare_one(job: Job, opts: PrepareOptions, out: str) -> Outcome:
    """Prepare one source file into `out`; return its record, or the one-line reason it was skipped.

    Never raises for a bad file: a batch over hundreds of thousands of files must go on.

    Raises:
        OutputWriteError: the prepared image cannot be written (the run must stop: the source is good).
    """
    try:
        return Outcome(job.source, job.fingerprint, record=_prepare_file(job, opts, Path(out)))
    except OutputWriteError:
        raise
    except BadInputError as e:
        return Outcome(job.source, job.fingerprint, reason=e.reason)
    except _Skip as e:
        return Outcome(job.source, job.fingerprint, reason=str(e))
    except Exception as e:  # noqa: BLE001 - one odd file must not stop the batch; the reason is kept
        return Outcome(job.source, job.fingerprint, reason=f"unexpected error ({type(e).__name__}: {e})")


def _prepare_file(job: Job, opts: PrepareOptions, out: Path) -> ManifestRecord:
    path = Path(job.path)
    _check_exclusions(read_header(path), opts)
    img = read_image(path)
    view, lat, split = _resolve_labels(job, img.facts.view, img.facts.laterality)
    if opts.views is not None and view not in opts.views:
        raise _Skip(f"view {view or 'unknown'} is not in the kept views {','.join(opts.views)}")
    h, w = img.pixels.shape
    if pp.plan_fit((h, w), opts.size).upsamples and not opts.allow_upsample:
        raise _Skip(f"image {h}x{w} is smaller than the target {opts.size[0]}x{opts.size[1]} "
                    "in both dimensions (pass --allow-upsample to enlarge it)")
    chest = infer_chest_wall(img.pixels)
    side = chest.side
    if chest.confidence < MIN_CHEST_WALL_CONFIDENCE and lat:
        side = "right" if lat == "R" else "left"
    canon, flipped = pp.flip_to_left(img.pixels, side)
    fitted, plan = pp.fit_to(canon, opts.size)
    try:
        rel, digest = write_image(out, job.image_id, fitted, bits=opts.bits)
    except BadInputError as e:
        raise OutputWriteError(str(e)) from None
    return ManifestRecord(
        id=job.image_id, file=rel, view=view, laterality=lat or ("L" if side == "left" else "R"),
        split=split or "train", source=printable_path(job.source), orig_height=h, orig_width=w, scale=plan.scale,
        flipped=flipped, pad_top=plan.pad_top, pad_bottom=plan.pad_bottom, pad_left=plan.pad_left,
        pad_right=plan.pad_right, sha256=digest)


def _check_exclusions(facts: HeaderFacts, opts: PrepareOptions) -> None:
    modality = facts.modality
    if facts.implant:
        raise _Skip("breast implant present (BreastImplantPresent = YES)")
    if modality and modality not in opts.allowed_modalities:
        raise _Skip(f"modality {modality} is not in the accepted modalities {','.join(opts.allowed_modalities)} "
                    f"(pass --allow-modality {modality} to accept it)")


def _resolve_labels(job: Job, tag_view: str, tag_lat: str) -> tuple[str, str, str]:
    """Return (view, laterality, split): label manifest > tags > file name; "" where none says."""
    name_view, name_lat = labels_from_name(job.source)
    given = job.labels or LabelRow()
    return (given.view or tag_view or name_view, given.laterality or tag_lat or name_lat, given.split)


def _run_with_progress(jobs: Sequence[Job], opts: PrepareOptions, out: Path, workers: int,
                       progress: bool) -> Iterator[Outcome]:
    with progress_bar("preparing", total=len(jobs), enabled=progress and bool(jobs), elapsed=True) as bar:
        for outcome in _run_jobs(jobs, opts, out, workers):
            bar.advance()
            yield outcome


def _run_jobs(jobs: Sequence[Job], opts: PrepareOptions, out: Path, workers: int) -> Iterator[Outcome]:
    """Yield the outcome of every job (any order), in this process or in `workers` processes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield prepare_one(job, opts, str(out))
        return
    # spawn, not fork: the parent runs a progress thread, and forking a threaded process can deadlock.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield from _bounded_map(ex.submit, jobs, opts, str(out), window=4 * workers)


def _bounded_map(submit: Callable[..., Future[Outcome]], jobs: Sequence[Job], opts: PrepareOptions, out: str,
                 *, window: int) -> Iterator[Outcome]:
    """Yield outcomes while keeping at most `window` jobs in flight (bounded memory for huge sources)."""
    it = iter(jobs)
    running: set[Future[Outcome]] = set()
    for job in it:
        running.add(submit(prepare_one, job, opts, out))
        if len(running) >= window:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in finished)
    while running:
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        yield from (f.result() for f in finished)


def _outcome_to_row(o: Outcome) -> dict[str, object]:
    return {"source": o.source, "fingerprint": o.fingerprint, "reason": o.reason,
            "record": None if o.record is None else dataclasses.asdict(o.record)}


def _read_journal(path: Path) -> dict[str, Outcome]:
    """Return the latest outcome per source recorded in the journal (empty when there is none)."""
    done: dict[str, Outcome] = {}
    for row in read_jsonl(path):
        try:
            rec = row.get("record")
            done[row["source"]] = Outcome(source=row["source"], fingerprint=row["fingerprint"],
                                          record=None if rec is None else ManifestRecord(**rec),
                                          reason=row.get("reason", ""))
        except (KeyError, TypeError):
            continue  # a row from another version of the journal: redo that file
    return done
