"""A blinded real-vs-generated reader study as one offline folder, with its answer key kept apart.

Layout written by `make_study` (OUT/)::

    page/index.html       the study: one image at a time at full resolution, zoom, pan and
                          window/level, a 1-5 rating, answers kept in the browser (localStorage)
                          and exported as CSV (reader,item,rating). No external scripts, styles
                          or fonts; give readers this folder only.
    page/images/NNN.png   the images, re-encoded alike (8-bit grey PNG, no metadata) and named
                          by a random item id, so neither name nor format tells them apart
    key.csv               item,truth,view,source (truth: real | generated) - never in page/
    study.json            settings (seed, n, sources, counts); no per-item truth

Items: `n` real and `n` generated images, drawn without replacement by a seeded generator and
balanced over views as far as each set allows (half CC, half MLO), then shuffled together.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import numpy as np
from jinja2 import Environment, select_autoescape

from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval.core.fsutil import sha256_strings, write_bytes_atomic, write_json_atomic, write_text_atomic
from mammoeval.core.progress import progress_bar
from mammoeval.core.seeding import Stream, check_seed, numpy_rng
from mammoeval.data.folder import list_image_files
from mammoeval.data.labels import labels_from_name
from mammoeval.data.prepared import encode_png, is_prepared_dataset, read_manifest
from mammoeval.data.readers import is_dicom_file, read_header, read_image

PAGE_DIR: Final = "page"
KEY_FILE: Final = "key.csv"
STUDY_FILE: Final = "study.json"
RATING_LABELS: Final[tuple[str, ...]] = ("surely generated", "probably generated", "unsure", "probably real",
                                         "surely real")
"""Labels of ratings 1..5."""
TRUTHS: Final[tuple[str, str]] = ("real", "generated")


@dataclass(frozen=True)
class StudyImage:
    """One candidate image: its file, view ("" when unknown) and the id it has in its source."""

    path: Path
    view: str
    source_id: str


@dataclass(frozen=True)
class StudyResult:
    """What `make_study` wrote."""

    page: Path
    key: Path
    study_json: Path
    n_items: int


def list_study_images(directory: str | Path) -> list[StudyImage]:
    """Return the images of a prepared dataset (manifest views) or a plain folder (views from names/tags).

    Raises:
        BadInputError: the folder is missing or holds no image.
    """
    root = Path(directory)
    if is_prepared_dataset(root):
        return [StudyImage(root / r.file, r.view, r.id) for r in read_manifest(root)]
    if not root.is_dir():
        raise BadInputError(root, "not a folder of images")
    out = []
    for rel in list_image_files(root):
        view = labels_from_name(rel)[0]
        if not view and is_dicom_file(root / rel):
            view = read_header(root / rel).view
        out.append(StudyImage(root / rel, view, rel))
    if not out:
        raise BadInputError(root, "no images found")
    return out


def pick_balanced(images: Sequence[StudyImage], n: int, rng: np.random.Generator, *, folder: Path) -> list[StudyImage]:
    """Return `n` images drawn without replacement, half CC and half MLO where the set allows.

    Raises:
        BadInputError: the set holds fewer than `n` images (the message names `folder`).
    """
    if len(images) < n:
        raise BadInputError(folder, f"holds {len(images)} images, the study asks for {n}")
    by_view: dict[str, list[int]] = {}
    for i, im in enumerate(images):
        by_view.setdefault(im.view if im.view in ("CC", "MLO") else "other", []).append(i)
    for v in by_view:
        by_view[v] = list(rng.permutation(by_view[v]))
    want = {"CC": n // 2, "MLO": n - n // 2}
    chosen: list[int] = []
    for v in ("CC", "MLO"):
        take = by_view.get(v, [])[:want[v]]
        chosen += take
        by_view[v] = by_view.get(v, [])[len(take):]
    rest = list(rng.permutation([i for v in ("CC", "MLO", "other") for i in by_view.get(v, [])]))
    chosen += rest[: n - len(chosen)]
    return [images[i] for i in chosen]


def make_study(real: str | Path, fake: str | Path, *, n: int, out: str | Path, seed: int = 0,
               title: str = "Real or generated?", progress: bool = False) -> StudyResult:
    """Write a blinded study of `n` real and `n` generated images into `out` (see the module docstring).

    Raises:
        BadInputError: a folder is missing, empty, holds fewer than `n` images, or an image cannot be read.
        ConfigError: n < 1, a negative seed, or `out` is inside one of the image folders.
    """
    check_seed(seed, "--seed")
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    out_dir = Path(out)
    for src in (Path(real), Path(fake)):
        if out_dir.resolve() == src.resolve() or src.resolve() in out_dir.resolve().parents:
            raise ConfigError(f"--out {out_dir} is inside {src}; write the study elsewhere")
    rng = numpy_rng(seed, Stream.STUDY_ITEMS)
    picked = {"real": pick_balanced(list_study_images(real), n, rng, folder=Path(real)),
              "generated": pick_balanced(list_study_images(fake), n, rng, folder=Path(fake))}
    entries = [(truth, im) for truth in TRUTHS for im in picked[truth]]
    order = rng.permutation(len(entries))
    width = max(3, len(str(len(entries))))
    ids = [f"{k + 1:0{width}d}" for k in range(len(entries))]
    key_rows: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    sizes: dict[str, set[tuple[int, int]]] = {t: set() for t in TRUTHS}
    with progress_bar("study images", total=len(order), enabled=progress, transient=True) as bar:
        for k, idx in enumerate(order):
            truth, im = entries[int(idx)]
            shape = _write_item(im.path, out_dir / PAGE_DIR / "images" / f"{ids[k]}.png")
            sizes[truth].add(shape)
            items.append({"item": ids[k], "src": f"images/{ids[k]}.png", "rows": shape[0], "cols": shape[1]})
            key_rows.append({"item": ids[k], "truth": truth, "view": im.view, "source": str(im.path)})
            bar.advance()
    if sizes["real"] != sizes["generated"] and (len(sizes["real"]) == 1 or len(sizes["generated"]) == 1):
        warnings.warn(f"real images are {_sizes(sizes['real'])} but generated ones {_sizes(sizes['generated'])}: "
                      "readers can tell them apart by size; prepare both sets at one size", stacklevel=2)

    study_id = sha256_strings([str(seed), str(n), *(k["source"] + k["truth"] for k in key_rows)])[:12]
    _write_page(out_dir / PAGE_DIR / "index.html", items, title=title, study_id=study_id)
    _write_key(out_dir / KEY_FILE, key_rows)

    write_json_atomic(out_dir / STUDY_FILE, {
        "study_id": study_id, "seed": seed, "n_per_class": n, "n_items": len(items), "real": str(real),
        "fake": str(fake), "page": f"{PAGE_DIR}/index.html", "key": KEY_FILE,
        "views": {t: {v: sum(im.view == v for im in picked[t]) for v in ("CC", "MLO")} for t in TRUTHS},
        "ratings": {str(i + 1): label for i, label in enumerate(RATING_LABELS)},
    })
    return StudyResult(page=out_dir / PAGE_DIR / "index.html", key=out_dir / KEY_FILE,
                       study_json=out_dir / STUDY_FILE, n_items=len(items))


def _sizes(shapes: set[tuple[int, int]]) -> str:
    return ", ".join(f"{h}x{w}" for h, w in sorted(shapes))


def _write_item(src: Path, dest: Path) -> tuple[int, int]:
    """Re-encode one image as an 8-bit grey PNG without metadata; return its (rows, cols)."""
    pixels = read_image(src).pixels
    write_bytes_atomic(dest, encode_png(pixels, bits=8))
    return int(pixels.shape[0]), int(pixels.shape[1])


def _write_key(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["item", "truth", "view", "source"], lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: r["item"]))
    write_text_atomic(path, buf.getvalue())


def _write_page(path: Path, items: list[dict[str, Any]], *, title: str, study_id: str) -> None:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(files("mammoeval.study").joinpath("page.html.j2").read_text(encoding="utf-8"))
    data = {"study_id": study_id, "items": items, "labels": list(RATING_LABELS)}
    # JSON inside <script>: "<" escaped so no string can close the element
    payload = json.dumps(data).replace("<", "\\u003c")
    write_text_atomic(path, template.render(title=title, payload=payload, labels=RATING_LABELS, n_items=len(items)))
