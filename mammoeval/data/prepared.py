"""The prepared-dataset contract: on-disk layout, manifest, content hash, writer and reader.

Layout of a prepared dataset directory (written by `mammoeval data prepare` and
`mammoeval data phantom`, read by the trainer and the scorer)::

    DIR/
      dataset.json      DatasetInfo: format, version, height, width, bits, n_images, counts,
                        content_hash, lowres_reduction, source
      manifest.csv      one row per image, columns MANIFEST_COLUMNS, sorted by id
      skipped.csv       file,reason for every source file that was not used
      images/SSS/ID.png one lossless grey PNG per image at the target size (8- or 16-bit),
                        sharded 1000 ids per folder (SSS = a 3-hex shard of the id)
      lowres.npy        optional uint8/uint16 array [N, H/r, W/r] in manifest order for
                        r = lowres_reduction, so that low-resolution training stages do not decode
                        full-size PNGs

Why PNG files plus a low-resolution array (the paper's scale is 450k images at 1280x1024):
lossless PNG keeps every grey level, compresses the zero background of mammograms about 3-5x
(~1-2 TB raw becomes a few hundred GB), and one file per image lets any number of data-loader
workers read in parallel with no shared file handle, no locking and no index to rebuild when a
prepare run is resumed; sharded folders keep directory listings small. Progressive training spends
most of its images at low resolution, where decoding a 1280x1024 PNG per sample would dominate: the
memory-mapped ``lowres.npy`` (160x128 for the paper size, ~9 GB for 450k 8-bit images) is shared
through the page cache by all workers and serves every stage up to that size.

Pixel contract: images are stored with the breast's chest wall against the LEFT edge (canonical
orientation) and zero padding where the aspect ratio differs from the target; readers return
float32 in [0, 1].
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import (
    check_regular_file,
    read_json,
    sha256_strings,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.core.views import VIEWS, view_to_label

FORMAT_NAME = "mammoeval-prepared"
FORMAT_VERSION = 1
INFO_FILE = "dataset.json"
MANIFEST_FILE = "manifest.csv"
SKIPPED_FILE = "skipped.csv"
IMAGES_DIR = "images"
LOWRES_FILE = "lowres.npy"
LOWRES_MAX_HEIGHT = 160
"""The low-resolution cache uses the smallest power-of-two reduction whose height is <= this."""


@dataclass(frozen=True)
class ManifestRecord:
    """One prepared image and how it was made from its source.

    Attributes:
        id: unique, file-name-safe identifier.
        file: path of the PNG relative to the dataset directory.
        view: "CC", "MLO", another view name, or "" when unknown.
        laterality: "L", "R" or "" (laterality of the breast before canonical flipping).
        split: free-form split name ("train" by default).
        source: source path as given (relative to the source root); never patient identifiers.
        orig_height, orig_width: source size in pixels.
        scale: output pixels per source pixel (<= 1 for a downsample).
        flipped: whether the image was mirrored left-right into canonical orientation.
        pad_top, pad_bottom, pad_left, pad_right: zero padding in output pixels.
        sha256: hex digest of the PNG file's bytes.
    """

    id: str
    file: str
    view: str
    laterality: str
    split: str = "train"
    source: str = ""
    orig_height: int = 0
    orig_width: int = 0
    scale: float = 1.0
    flipped: bool = False
    pad_top: int = 0
    pad_bottom: int = 0
    pad_left: int = 0
    pad_right: int = 0
    sha256: str = ""

    @property
    def view_label(self) -> int:
        """0 for CC, 1 for MLO, -1 otherwise."""
        return view_to_label(self.view)


MANIFEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ManifestRecord))


@dataclass(frozen=True)
class DatasetInfo:
    """Contents of dataset.json."""

    height: int
    width: int
    bits: int
    n_images: int
    content_hash: str
    counts: dict[str, int] = field(default_factory=dict)
    lowres_reduction: int = 0
    source: str = ""
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (self.height, self.width)


def image_relpath(image_id: str) -> str:
    """Return the PNG path, relative to the dataset directory, where image `image_id` is stored."""
    shard = hashlib.sha1(image_id.encode("utf-8")).hexdigest()[:3]
    return f"{IMAGES_DIR}/{shard}/{image_id}.png"


def encode_png(image: np.ndarray, *, bits: int) -> bytes:
    """Return lossless PNG bytes of a 2-D image.

    Args:
        image: float array in [0, 1] (quantised here, rounding to nearest) or an unsigned integer
            array already at `bits` depth.
        bits: 8 or 16.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    q = quantise(image, bits=bits) if np.issubdtype(image.dtype, np.floating) else image
    buf = io.BytesIO()
    if bits == 8:
        Image.fromarray(q.astype(np.uint8), mode="L").save(buf, format="PNG", compress_level=6)
    else:
        Image.fromarray(q.astype(np.uint16)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def quantise(image: np.ndarray, *, bits: int) -> np.ndarray:
    """Return `image` (float in [0, 1]) rounded to unsigned integers of `bits` depth."""
    top = (1 << bits) - 1
    q = np.rint(np.clip(image, 0.0, 1.0) * top)
    return q.astype(np.uint8 if bits == 8 else np.uint16)


def write_image(root: str | Path, image_id: str, image: np.ndarray, *, bits: int) -> tuple[str, str]:
    """Write one prepared image atomically; return (relative path, sha256 of the PNG bytes)."""
    rel = image_relpath(image_id)
    data = encode_png(image, bits=bits)
    write_bytes_atomic(Path(root) / rel, data)
    return rel, hashlib.sha256(data).hexdigest()


def read_png(path: str | Path) -> np.ndarray:
    """Return a prepared PNG as float32 in [0, 1], shape (H, W).

    Raises:
        BadInputError: the file is missing, truncated or not a grey PNG.
    """
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except (OSError, ValueError) as e:
        raise BadInputError(path, f"cannot read prepared image ({e})") from None
    if arr.ndim != 2:
        raise BadInputError(path, f"expected a grey image, got shape {arr.shape}")
    top = 255.0 if arr.dtype == np.uint8 else 65535.0
    return arr.astype(np.float32) / np.float32(top)


def compute_content_hash(records: Iterable[ManifestRecord], *, height: int, width: int, bits: int) -> str:
    """Return the dataset content hash: SHA-256 over size, bit depth and each image's labels and bytes hash."""
    rows = sorted(records, key=lambda r: r.id)
    parts = [f"{FORMAT_NAME}/{FORMAT_VERSION} {height}x{width} bits={bits}"]
    parts += [f"{r.id}\t{r.view}\t{r.laterality}\t{r.split}\t{r.sha256}" for r in rows]
    return sha256_strings(parts)


def count_labels(records: Iterable[ManifestRecord]) -> dict[str, int]:
    """Return counts per view, per laterality and per view+laterality (keys like "CC", "L", "CC/L")."""
    c: Counter[str] = Counter()
    for r in records:
        v = r.view or "unknown"
        lat = r.laterality or "unknown"
        c[f"view:{v}"] += 1
        c[f"laterality:{lat}"] += 1
        c[f"{v}/{lat}"] += 1
    return dict(sorted(c.items()))


def write_manifest(root: str | Path, records: Sequence[ManifestRecord]) -> None:
    """Write manifest.csv atomically, sorted by id."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    for r in sorted(records, key=lambda r: r.id):
        w.writerow([_csv_value(getattr(r, c)) for c in MANIFEST_COLUMNS])
    write_text_atomic(Path(root) / MANIFEST_FILE, buf.getvalue())


def write_skipped(root: str | Path, skipped: Sequence[tuple[str, str]]) -> None:
    """Write skipped.csv (file, reason) atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "reason"])
    for f, reason in skipped:
        w.writerow([f, reason])
    write_text_atomic(Path(root) / SKIPPED_FILE, buf.getvalue())


def lowres_reduction_for(height: int, width: int) -> int:
    """Return the power-of-two reduction used for lowres.npy (0 when none is worth storing)."""
    r = 1
    while height // r > LOWRES_MAX_HEIGHT and height % (2 * r) == 0 and width % (2 * r) == 0:
        r *= 2
    return r if r > 1 else 0


def finalize_dataset(
    root: str | Path,
    records: Sequence[ManifestRecord],
    *,
    height: int,
    width: int,
    bits: int,
    source: str = "",
    skipped: Sequence[tuple[str, str]] = (),
    build_lowres: bool = True,
) -> DatasetInfo:
    """Write manifest.csv, skipped.csv, lowres.npy and dataset.json for images already written.

    Call it last: dataset.json's presence marks a complete dataset.

    Raises:
        BadInputError: `records` is empty (a dataset with no usable image).
    """
    root = Path(root)
    if not records:
        raise BadInputError(root, "no usable image: nothing to write (see skipped.csv)")
    write_manifest(root, records)
    write_skipped(root, skipped)
    red = lowres_reduction_for(height, width) if build_lowres else 0
    if red:
        _write_lowres(root, sorted(records, key=lambda r: r.id), red, bits=bits)
    info = DatasetInfo(
        height=height,
        width=width,
        bits=bits,
        n_images=len(records),
        content_hash=compute_content_hash(records, height=height, width=width, bits=bits),
        counts=count_labels(records),
        lowres_reduction=red,
        source=source,
    )
    write_json_atomic(root / INFO_FILE, dataclasses.asdict(info))
    return info


def _write_lowres(root: Path, records: Sequence[ManifestRecord], reduction: int, *, bits: int) -> None:
    first = read_png(root / records[0].file)
    h, w = first.shape[0] // reduction, first.shape[1] // reduction
    dtype = np.uint8 if bits == 8 else np.uint16
    tmp = root / (LOWRES_FILE + ".tmp")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(records), h, w))
    for i, r in enumerate(records):
        img = torch.from_numpy(read_png(root / r.file))[None, None]
        small = box_reduce_tensor(img, reduction)[0, 0].numpy()
        arr[i] = quantise(small, bits=bits)
    arr.flush()
    del arr
    tmp.replace(root / LOWRES_FILE)


def read_dataset_info(root: str | Path) -> DatasetInfo:
    """Read dataset.json.

    Raises:
        BadInputError: the folder is not a complete prepared dataset.
    """
    path = Path(root) / INFO_FILE
    if not path.is_file():
        raise BadInputError(root, f"not a prepared dataset (no {INFO_FILE}); run `mammoeval data prepare` first")
    raw = read_json(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise BadInputError(path, f"unknown format {found!r}, expected {FORMAT_NAME!r}")
    known = {f.name for f in dataclasses.fields(DatasetInfo)}
    required = {f.name for f in dataclasses.fields(DatasetInfo) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    if required - set(raw):
        raise BadInputError(path, f"lacks {sorted(required - set(raw))}; run `mammoeval data prepare` again")
    info = DatasetInfo(**{k: v for k, v in raw.items() if k in known})
    sizes = (info.height, info.width, info.bits, info.n_images, info.lowres_reduction)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in sizes) or min(sizes[:3]) < 1:
        raise BadInputError(path, "height, width, bits, n_images and lowres_reduction must be non-negative "
                                  "integers (height, width and bits positive)")
    if not isinstance(info.content_hash, str) or not isinstance(info.counts, dict):
        raise BadInputError(path, "content_hash must be text and counts an object")
    return info


def read_manifest(root: str | Path) -> list[ManifestRecord]:
    """Read manifest.csv into records (in file order, i.e. sorted by id).

    Raises:
        BadInputError: the manifest is missing or lacks required columns.
    """
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        raise BadInputError(root, f"no {MANIFEST_FILE}")
    check_regular_file(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"id", "file", "view", "laterality"} - set(reader.fieldnames or [])
            if missing:
                raise BadInputError(path, f"missing columns {sorted(missing)}")
            records = []
            for row in reader:
                try:
                    records.append(_record_from_row(row))
                except (ValueError, TypeError, AttributeError) as e:
                    raise BadInputError(path, f"line {reader.line_num}: bad value ({e})") from None
            return records
    except UnicodeDecodeError:
        raise BadInputError(path, "not UTF-8 text") from None
    except csv.Error as e:
        raise BadInputError(path, f"not a valid CSV file ({e})") from None


def is_prepared_dataset(path: str | Path) -> bool:
    """True when `path` holds a complete prepared dataset."""
    return (Path(path) / INFO_FILE).is_file()


def _record_from_row(row: dict[str, str]) -> ManifestRecord:
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(ManifestRecord):
        if f.name not in row or row[f.name] is None:
            continue
        v = row[f.name]
        if f.type in ("int", int):
            kw[f.name] = int(v or 0)
        elif f.type in ("float", float):
            kw[f.name] = float(v or 0.0)
        elif f.type in ("bool", bool):
            kw[f.name] = v.strip().lower() in ("1", "true", "yes")
        else:
            kw[f.name] = v
    return ManifestRecord(**kw)


def _csv_value(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


__all__ = [
    "DatasetInfo",
    "ManifestRecord",
    "MANIFEST_COLUMNS",
    "VIEWS",
    "finalize_dataset",
    "image_relpath",
    "is_prepared_dataset",
    "read_dataset_info",
    "read_manifest",
    "read_png",
    "write_image",
]
