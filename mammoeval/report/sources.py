"""Reading the report's inputs: run-directory files, score rows, real images, nearest-neighbour pairs.

Everything here tolerates absence: a missing optional file yields an empty value and a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mammoeval.core import rundir
from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import read_json
from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.core.views import VIEWS, label_to_view
from mammoeval.data.dataset import PreparedDataset
from mammoeval.data.imageset import ImageSet
from mammoeval.data.prepared import read_manifest, read_png
from mammoeval.report.context import GeneratorLike, NNPair, ReportOptions, Role, Snapshot, Tile
from mammoeval.score.schema import read_score_rows

_FAKES_RE = re.compile(r"^fakes-(\d{10})\.png$")


@dataclass(frozen=True)
class RunFiles:
    """The JSON and grid files of a run directory, read once."""

    config: dict[str, Any]
    log: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    best: dict[str, Any] | None
    gate: dict[str, Any] | None
    selected: dict[str, Any] | None
    snapshots: list[Snapshot]
    reals_grid: Path | None
    notes: dict[str, str] = field(default_factory=dict)


def read_run_files(run: Path) -> RunFiles:
    """Return config, log, scores, best, gate and grids of a run; absent optional files become notes.

    Raises:
        BadInputError: no config.json, or a malformed JSON file.
    """

    config = rundir.read_config(run)
    log = rundir.read_log(run)
    notes: dict[str, str] = {}
    scores = _read_scores(run / rundir.SCORES_FILE)
    if not scores:
        notes["scores"] = f"no {rundir.SCORES_FILE} yet: run `mammoeval score {run}`"
    best = read_json_optional(run / rundir.BEST_FILE)
    gate = read_json_optional(run / rundir.GATE_FILE)
    if gate is None:
        notes["gate"] = f"no gate verdict: run `mammoeval gate {run / rundir.SCORES_FILE} --baseline BASELINE`"
    if not log:
        notes["log"] = f"no {rundir.LOG_FILE}: the training curves need the trainer's log"
    selected = select_row(scores, best)
    grid_dir = run / rundir.GRID_DIR
    snaps = []
    if grid_dir.is_dir():
        for p in sorted(grid_dir.iterdir()):
            m = _FAKES_RE.match(p.name)
            if m:
                snaps.append(Snapshot(kimg=int(m.group(1)) / 1000.0, path=p))
    reals_grid = grid_dir / rundir.REALS_GRID
    if not snaps:
        notes["snapshots"] = f"no snapshot grids in {grid_dir}"
    return RunFiles(config=config, log=log, scores=scores, best=best, gate=gate, selected=selected,
                    snapshots=snaps, reals_grid=reals_grid if reals_grid.is_file() else None, notes=notes)


def _read_scores(path: Path) -> list[dict[str, Any]]:
    return read_score_rows(path, missing_ok=True)


def read_json_optional(path: Path) -> dict[str, Any] | None:
    """Return a JSON object file, or None when absent.

    Raises:
        BadInputError: the file exists but is not a JSON object.
    """
    if not path.is_file():
        return None
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise BadInputError(path, "expected a JSON object")
    return obj


def select_row(scores: list[dict[str, Any]], best: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the score row of best.json's checkpoint, else the last scored row, else None."""
    if best:
        for row in scores:
            if row.get("checkpoint") == best.get("checkpoint"):
                return row
    return scores[-1] if scores else None


def selected_checkpoint(run: Path, selected: dict[str, Any] | None) -> Path | None:
    """Return the checkpoint file to generate from: the selected row's, else (no row) the run's last one.

    When the selected row's checkpoint file is gone, None is returned: another checkpoint's images
    must never be shown under the selected one's name.
    """
    if selected and selected.get("checkpoint"):
        p = run / rundir.CHECKPOINT_DIR / str(selected["checkpoint"])
        return p if p.is_file() else None
    refs = rundir.list_checkpoints(run)
    return refs[-1].path if refs else None


def find_folder_scores(fake_dir: Path) -> Path | None:
    """Return scores.json inside or beside `fake_dir`, if one exists."""
    for p in (fake_dir / "scores.json", fake_dir.parent / "scores.json"):
        if p.is_file():
            return p
    return None


def read_folder_scores(path: Path) -> list[dict[str, Any]]:
    """Return the rows of a folder-mode scores.json (one object, or a list of them).

    Raises:
        BadInputError: missing or malformed file.
    """
    return read_score_rows(path)


def sample_prepared(root: Path, n_per_view: int, *, size: tuple[int, int] | None,
                    rng: np.random.Generator) -> list[Tile]:
    """Return up to `n_per_view` random real images per view of a prepared dataset, at `size` if given.

    Args:
        root: prepared dataset directory.
        n_per_view: images per view (fewer when the dataset has fewer).
        size: (H, W) to reduce to (a power-of-two division of the dataset size); None = full size.
        rng: picks the images.
    """

    probe = PreparedDataset(root)
    reduction = 1 if size is None else max(1, probe.size[0] // size[0])
    ds = PreparedDataset(root, reduction=reduction) if reduction > 1 else probe
    labels = ds.view_labels.numpy()
    tiles = []
    for label, view in enumerate(VIEWS):
        idx = np.flatnonzero(labels == label)
        for i in sorted(rng.choice(idx, size=min(n_per_view, len(idx)), replace=False).tolist()):
            img, _ = ds[int(i)]
            rec = ds.records[int(i)]
            tiles.append(Tile(id=rec.id, view=view, role="real", image=img[0].numpy(), caption=f"real {rec.id}"))
    return tiles


def sample_image_set(images: ImageSet, n_per_view: int, *, rng: np.random.Generator, role: Role) -> list[Tile]:
    """Return up to `n_per_view` random images per view of an image set, streaming it once.

    Images of unknown view (-1) are kept under the view "unknown".
    """

    labels = images.view_labels().numpy()
    keep: set[int] = set()
    for label in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == label)
        keep.update(rng.choice(idx, size=min(n_per_view, len(idx)), replace=False).tolist())
    tiles, start = [], 0
    for batch in images.iter_batches(16):
        for j in range(len(batch.ids)):
            if start + j in keep:
                view = label_to_view(int(batch.views[j]))
                tiles.append(Tile(id=batch.ids[j], view=view, role=role, image=batch.images[j, 0].numpy(),
                                  caption=f"{'generated' if role == 'fake' else role} {batch.ids[j]}"))
        start += len(batch.ids)
    return tiles


def nn_pairs_for_view(view: str, selected: dict[str, Any] | None, options: ReportOptions, *,
                      train_root: Path | None,
                      generator: GeneratorLike | None) -> tuple[list[NNPair], str]:
    """Return the closest memorization pairs of a view from the selected score row, and a note if none.

    Pairs come from ``selected["memorization"]["pairs"]`` (``fake_id``, ``train_id``, ``distance``,
    ``space``, optional ``view`` and ``flagged``). The training image is read from the run's dataset by
    id; the generated image is regenerated when its id carries its view and seed.
    """

    mem = (selected or {}).get("memorization") or {}
    pairs = [p for p in (mem.get("pairs") or []) if isinstance(p, dict)]
    if not pairs:
        return [], "no generated image was flagged as a possible copy in the scores"
    mine = [p for p in pairs if _pair_view(p) in (view, None)]
    mine.sort(key=lambda p: float(p.get("distance", np.inf)))
    out = []
    for p in mine[: options.n_nn_pairs]:
        fake = _regenerate(str(p.get("fake_id", "")), selected or {}, generator)
        train = _read_train(train_root, str(p.get("train_id", "")), size=None if fake is None else fake.image.shape)
        out.append(NNPair(fake_id=str(p.get("fake_id", "")), train_id=str(p.get("train_id", "")),
                          distance=float(p.get("distance", float("nan"))), space=str(p.get("space", "")),
                          flagged=bool(p.get("flagged", False)), fake=fake, train=train))
    note = "" if out else f"no nearest-neighbour pair for {view} in the scores"
    return out, note


def _pair_view(pair: dict[str, Any]) -> str | None:
    v = pair.get("view")
    if isinstance(v, str) and v:
        return v.upper() if v.upper() in VIEWS else v
    if isinstance(v, int):
        return label_to_view(v)
    m = _FAKE_ID_RE.match(str(pair.get("fake_id", "")))
    return m.group(1).upper() if m else None


_FAKE_ID_RE = re.compile(r"^(CC|MLO)-(seed)?(\d+)$", re.IGNORECASE)


def seed_of_fake_id(fake_id: str, row: dict[str, Any]) -> tuple[str, int] | None:
    """Return (view, generation seed) of a generated image id, or None when the id is not one.

    Two id forms: the report's own ``CC-seed12`` (seed 12), and the scorer's ``MLO-000003`` (image 3
    of its view; the scorer generates CC then MLO with seeds ``row["seed"] + i`` over both views, so
    the seed is ``seed + label * n_per_view + 3``).
    """
    m = _FAKE_ID_RE.match(fake_id)
    if m is None:
        return None
    view, index = m.group(1).upper(), int(m.group(3))
    if m.group(2):
        return view, index
    seed, n = row.get("seed"), row.get("n_per_view")
    if not isinstance(seed, int) or not isinstance(n, int):
        return None
    return view, seed + VIEWS.index(view) * n + index


def _regenerate(fake_id: str, row: dict[str, Any],
                generator: GeneratorLike | None) -> Tile | None:
    """Return the generated image of a pair's fake id (None when it cannot be regenerated)."""

    parsed = seed_of_fake_id(fake_id, row)
    if parsed is None or generator is None:
        return None
    view, seed = parsed
    img = generator.generate([seed], torch.tensor([VIEWS.index(view)], dtype=torch.int64))
    return Tile(id=fake_id, view=view, role="fake", image=img[0, 0].detach().cpu().float().numpy(),
                caption=f"generated {fake_id}")


def _read_train(root: Path | None, train_id: str, *, size: tuple[int, ...] | None) -> Tile | None:
    """Return the training image `train_id` of a prepared dataset (reduced to `size`), or None."""

    if root is None or not train_id:
        return None
    rec = next((r for r in read_manifest(root) if r.id == train_id), None)
    if rec is None:
        return None
    img = torch.from_numpy(read_png(root / rec.file))[None]
    if size is not None and img.shape[1] > size[0] and img.shape[1] % size[0] == 0:
        k = img.shape[1] // size[0]
        img = box_reduce_tensor(img[None], k)[0]
    return Tile(id=train_id, view=rec.view or "unknown", role="train", image=img[0].numpy(),
                caption=f"training {train_id}")


NN_MAX_HEIGHT = 64
"""Nearest-neighbour search compares images box-reduced to at most this many pixels high."""
NN_MAX_TRAIN = 5000
"""At most this many training images per view are searched (a seeded sample beyond it)."""


def nearest_training_pairs(fakes: list[Tile], root: Path, *, n_pairs: int,
                           rng: np.random.Generator) -> tuple[list[NNPair], str]:
    """Return the `n_pairs` generated tiles closest to a training image of their view, closest first.

    Distance: root-mean-square grey-level difference of both images box-reduced to at most
    `NN_MAX_HEIGHT` px high (space ``pixels@HxW``), over at most `NN_MAX_TRAIN` training images of the
    view. Returns a note instead when the sizes are not power-of-two multiples of each other.
    """

    if not fakes or n_pairs <= 0:
        return [], ""
    fh = fakes[0].image.shape[0]
    target = fh
    while target > NN_MAX_HEIGHT and target % 2 == 0:
        target //= 2
    full = PreparedDataset(root)
    ratio = full.size[0] // target
    if full.size[0] % target or ratio & (ratio - 1):
        return [], f"dataset height {full.size[0]} is not a power-of-two multiple of {target}"
    ds = PreparedDataset(root, reduction=ratio) if ratio > 1 else full
    view = fakes[0].view
    idx = np.flatnonzero(ds.view_labels.numpy() == VIEWS.index(view)) if view in VIEWS else np.arange(len(ds))
    if len(idx) > NN_MAX_TRAIN:
        idx = np.sort(rng.choice(idx, size=NN_MAX_TRAIN, replace=False))
    if len(idx) == 0:
        return [], f"no training image of view {view}"
    train = torch.stack([ds[int(i)][0][0] for i in idx]).flatten(1)
    k = fh // target
    fk = torch.stack([torch.from_numpy(np.ascontiguousarray(t.image)) for t in fakes])[:, None]
    fk = box_reduce_tensor(fk, k)
    d = torch.cdist(fk.flatten(1).double(), train.double()) / float(train.shape[1]) ** 0.5
    best_d, best_i = d.min(dim=1)
    order = torch.argsort(best_d)[:n_pairs].tolist()
    space = f"pixels@{target}x{fk.shape[-1]}"
    out = []
    for j in order:
        rec = ds.records[int(idx[int(best_i[j])])]
        tr = _read_train(root, rec.id, size=fakes[j].image.shape)
        out.append(NNPair(fake_id=fakes[j].id, train_id=rec.id, distance=float(best_d[j]), space=space,
                          flagged=False, fake=fakes[j], train=tr))
    return out, ""
