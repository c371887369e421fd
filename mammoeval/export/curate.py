"""Curate an image folder by QA: copy (or hard-link) the images that pass into one folder, the rest
into another, with every image's decision and reasons in a CSV.

One function decides (`qa_decision`): an image passes when no QA detector flagged it. The flags
come from the QA scan (`mammoeval.qa`), so whatever thresholds the scan applies (the defaults, or
calibrated ones) are what curation applies.

Files written::

    ACCEPTED/<image files>   the accepted images (same relative paths as in the source folder;
                             images of a prepared dataset are named <id>_<laterality>_<view>.png)
    ACCEPTED/labels.csv      path,view,laterality of the accepted images (a label manifest for
                             `mammoeval data prepare ACCEPTED --manifest ACCEPTED/labels.csv`)
    ACCEPTED/curation.csv    every image: source,id,view,laterality,decision,reasons,copied_to
    REJECTED/...             the same for the rejected images, when a rejected folder is given
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import write_text_atomic
from mammoeval.data.folder import list_image_files
from mammoeval.data.labels import labels_from_name
from mammoeval.data.prepared import is_prepared_dataset, read_manifest

CURATION_CSV: Final = "curation.csv"
LABELS_CSV: Final = "labels.csv"
CURATION_COLUMNS: Final[tuple[str, ...]] = ("source", "id", "view", "laterality", "decision", "reasons", "copied_to")
Decision = Literal["accepted", "rejected"]


@dataclass(frozen=True)
class SourceFile:
    """One scanned image and where it lives.

    Attributes:
        id: the QA row id.
        path: the file.
        rel: the path a copy gets inside the destination folder.
        view, laterality: labels ("" when unknown).
    """

    id: str
    path: Path
    rel: str
    view: str
    laterality: str


@dataclass(frozen=True)
class CurationResult:
    """Counts and files of one curation."""

    n_accepted: int
    n_rejected: int
    accepted_dir: Path
    rejected_dir: Path | None
    csv: Path


def qa_decision(row: Any) -> tuple[Decision, str]:
    """Return ("accepted" | "rejected", reasons) for one QA row (`mammoeval.qa.ImageQA`).

    The image is rejected when any detector flagged it; `reasons` is the scan's text of what was
    flagged ("" for accepted images).
    """
    if row.any_artifact:
        return "rejected", str(row.reasons) or "flagged by QA"
    return "accepted", ""


def source_files(directory: str | Path) -> dict[str, SourceFile]:
    """Return {QA row id: file} for a prepared dataset or a plain folder, with the ids the QA scan uses.

    Raises:
        BadInputError: the folder is missing, or holds no image.
    """
    root = Path(directory)
    if is_prepared_dataset(root):
        out = {}
        for r in read_manifest(root):
            rel = f"{r.id}_{r.laterality or 'U'}_{r.view or 'unknown'}.png"
            out[r.id] = SourceFile(r.id, root / r.file, rel, r.view, r.laterality)
        return out
    if not root.is_dir():
        raise BadInputError(root, "not a folder of images")
    files = list_image_files(root)
    if not files:
        raise BadInputError(root, "no images found")
    result = {}
    for rel in files:
        view, lat = labels_from_name(rel)
        image_id = str(Path(rel).with_suffix(""))
        result[image_id] = SourceFile(image_id, root / rel, rel, view, lat)
    return result


def curate(directory: str | Path, qa_rows: Sequence[Any], *, accept_out: str | Path,
           reject_out: str | Path | None = None, link: bool = False) -> CurationResult:
    """Copy (or hard-link) the images of `directory` that pass QA into `accept_out`, the others into `reject_out`.

    Args:
        directory: the scanned folder or prepared dataset.
        qa_rows: its QA rows (`QAScan.rows`), one per image.
        accept_out: folder for the accepted images (created).
        reject_out: folder for the rejected images; None = leave them where they are.
        link: hard-link instead of copying (falls back to a copy across file systems).

    Raises:
        BadInputError: a QA row names an image that is not in `directory`, or a destination is
            inside the source folder.
    """
    files = source_files(directory)
    root = Path(directory).resolve()
    dests = [Path(accept_out)] + ([Path(reject_out)] if reject_out is not None else [])
    for d in dests:
        if d.resolve() == root or root in d.resolve().parents:
            raise BadInputError(d, f"destination is inside the scanned folder {directory}; choose another folder")
    table: list[dict[str, str]] = []
    kept: dict[Decision, list[SourceFile]] = {"accepted": [], "rejected": []}
    for row in qa_rows:
        src = files.get(str(row.id))
        if src is None:
            raise BadInputError(Path(directory), f"QA row {row.id!r} matches no image in this folder")
        decision, reasons = qa_decision(row)
        dest_dir = Path(accept_out) if decision == "accepted" else (Path(reject_out) if reject_out else None)
        if dest_dir is not None:
            _place(src.path, dest_dir / src.rel, link=link)
            kept[decision].append(src)
        table.append({"source": str(src.path), "id": src.id, "view": src.view, "laterality": src.laterality,
                      "decision": decision, "reasons": reasons,
                      "copied_to": str(dest_dir / src.rel) if dest_dir is not None else ""})
    csv_path = Path(accept_out) / CURATION_CSV
    _write_csv(csv_path, CURATION_COLUMNS, table)
    _write_labels(Path(accept_out), kept["accepted"])
    if reject_out is not None:
        _write_csv(Path(reject_out) / CURATION_CSV, CURATION_COLUMNS, table)
        _write_labels(Path(reject_out), kept["rejected"])
    n_acc = sum(r["decision"] == "accepted" for r in table)
    return CurationResult(n_accepted=n_acc, n_rejected=len(table) - n_acc, accepted_dir=Path(accept_out),
                          rejected_dir=Path(reject_out) if reject_out is not None else None, csv=csv_path)


def _place(src: Path, dest: Path, *, link: bool) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    if link:
        try:
            os.link(src, dest)
            return
        except OSError:  # another file system, or links not allowed: copy instead
            pass
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _write_labels(folder: Path, files: Sequence[SourceFile]) -> None:
    _write_csv(folder / LABELS_CSV, ("path", "view", "laterality"),
               [{"path": f.rel, "view": f.view, "laterality": f.laterality} for f in files])


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())
