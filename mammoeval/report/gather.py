"""Everything a report shows, gathered into plain data (`ReportData`) before any HTML is written.

Two sources:

- a run directory (`gather_run`): config.json, log.jsonl, scores.jsonl, best.json, gate.json,
  grids/, plus images generated again from the selected checkpoint with fixed seeds and real images
  sampled from the run's prepared dataset;
- a scored pair of folders (`gather_folders`): scores.json (optional) and the two image folders.

Missing inputs never raise: the section that needs them gets a short "not available: why / how to
get it" note in `ReportData.notes` or `ViewSection.notes`.

Privacy: only image ids from manifests or file names and numbers reach the report; no header value
of a source file is ever read here.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from mammoeval.core.errors import MammoevalError
from mammoeval.core.seeding import Stream, numpy_rng
from mammoeval.core.views import VIEWS
from mammoeval.data.open import open_image_set
from mammoeval.qa.calibration import Calibration, find_cached_calibration
from mammoeval.report.analysis import analyse_view
from mammoeval.report.context import (
    GeneratorLike,
    GeneratorLoader,
    ImageChecker,
    ReportData,
    ReportOptions,
    Tile,
    ViewAnalysis,
    ViewSection,
)
from mammoeval.report.extras import STUDY_RESULTS_FILE, read_exports, read_study
from mammoeval.report.sources import (
    find_folder_scores,
    nearest_training_pairs,
    nn_pairs_for_view,
    read_folder_scores,
    read_run_files,
    sample_image_set,
    sample_prepared,
    selected_checkpoint,
)
from mammoeval.score.run import CACHE_DIR
from mammoeval_train.generate import load_generator as default_load_generator


def gather_run(run_dir: str | Path, *, options: ReportOptions = ReportOptions(),
               load_generator: GeneratorLoader | None = None, check_image: ImageChecker | None = None,
               progress: bool = True) -> ReportData:
    """Return the report data of a run directory (missing parts become notes, never errors).

    Args:
        run_dir: a run directory (must hold config.json).
        options: gallery sizes and seeds.
        load_generator: checkpoint path -> generator; default `mammoeval_train.generate.load_generator`.
        check_image: per-image QA; default `mammoeval.qa.scan.check_image`.
        progress: show a progress bar while generating and checking images.

    Raises:
        BadInputError: `run_dir` is not a run directory or its config.json is unreadable.
    """
    run = Path(run_dir)
    files = read_run_files(run)
    notes = dict(files.notes)
    gen, gen_note = _load_selected(run, files.selected, load_generator)
    if gen_note:
        notes["samples"] = gen_note
    fakes, reals, train_root, image_notes = _run_images(run, files.config, gen, options, progress)
    notes.update(image_notes)
    views = _build_views(fakes, reals, files.selected, options, check_image, progress,
                         train_root=train_root, generator=gen,
                         calibration=recorded_calibration(run / CACHE_DIR, files.selected))
    return ReportData(
        title=f"mammoeval report: {run.resolve().name}", mode="run", source=str(run), config=files.config,
        log=files.log, scores=files.scores, selected=files.selected, best=files.best, gate=files.gate,
        snapshots=files.snapshots, reals_grid=files.reals_grid, views=views,
        provenance=_provenance(files.config, files.selected), notes=notes, grid_cols=options.grid_cols,
        exports=read_exports(run), study=read_study(run / STUDY_RESULTS_FILE, required=False))


def gather_folders(real_dir: str | Path, fake_dir: str | Path, *, scores_file: str | Path | None = None,
                   options: ReportOptions = ReportOptions(), check_image: ImageChecker | None = None,
                   progress: bool = True) -> ReportData:
    """Return the report data of a scored pair of image folders (or prepared datasets).

    Args:
        real_dir: reference images (folder or prepared dataset).
        fake_dir: generated images (folder or prepared dataset).
        scores_file: scores.json written by `mammoeval score --real --fake`; None = look for
            ``scores.json`` beside `fake_dir`'s parent and inside `fake_dir`, else report without scores.
        options: gallery sizes and seeds.
        check_image: per-image QA; default `mammoeval.qa.scan.check_image`.
        progress: show progress bars.

    Raises:
        BadInputError: a folder is missing or holds no readable image, or the scores file is malformed.
    """
    notes: dict[str, str] = {}
    scores_path = Path(scores_file) if scores_file else find_folder_scores(Path(fake_dir))
    rows = read_folder_scores(scores_path) if scores_path else []
    if not rows:
        notes["scores"] = ("no scores.json found: run `mammoeval score --real REAL --fake FAKE --out DIR` "
                           "and pass --scores DIR/scores.json")
    fake_set = open_image_set(fake_dir)
    real_set = open_image_set(real_dir, size=fake_set.size)
    rng = numpy_rng(options.seed, Stream.REPORT_FOLDER_PICKS)
    fakes = sample_image_set(fake_set, options.n_grid, rng=rng, role="fake")
    reals = sample_image_set(real_set, max(options.n_pairs, options.n_real_stats), rng=rng, role="real")
    selected = rows[-1] if rows else None
    views = _build_views(fakes, reals, selected, options, check_image, progress, train_root=None, generator=None)
    notes["training"] = "a pair of folders has no training history: report a run directory to see it"
    return ReportData(
        title=f"mammoeval report: {Path(fake_dir).resolve().name} vs {Path(real_dir).resolve().name}",
        mode="folders", source=f"{fake_dir} vs {real_dir}", config={}, log=[], scores=rows,
        selected=selected, best=None, gate=None, snapshots=[], reals_grid=None, views=views,
        provenance=_provenance({}, selected), notes=notes, grid_cols=options.grid_cols)


def _load_selected(run: Path, selected: dict[str, Any] | None,
                   load_generator: GeneratorLoader | None) -> tuple[GeneratorLike | None, str]:
    """Return the generator of the selected checkpoint (or the last one) and a note when there is none."""
    ckpt = selected_checkpoint(run, selected)
    loader: GeneratorLoader = load_generator or default_load_generator  # type: ignore[assignment]
    if ckpt is None and selected and selected.get("checkpoint"):
        return None, (f"the selected checkpoint {selected['checkpoint']} is no longer in "
                      f"{run / 'checkpoints'}: no generated images are shown (restore it, or rescore the run)")
    if ckpt is None:
        return None, "no checkpoint in the run: train with `mammoeval train` first"
    try:
        return loader(ckpt), ""
    except MammoevalError as e:
        return None, f"cannot generate from {ckpt.name}: {e}"


def _dataset_root(run: Path, config: dict[str, Any]) -> Path | None:
    """Return config.json's dataset_path (a relative path is tried against the run dir, then the cwd)."""
    raw = config.get("dataset_path")
    if not raw:
        return None
    path = Path(str(raw))
    return run / path if not path.is_absolute() and (run / path).exists() else path


def _run_images(run: Path, config: dict[str, Any], gen: GeneratorLike | None, options: ReportOptions,
                progress: bool) -> tuple[list[Tile], list[Tile], Path | None, dict[str, str]]:
    """Return (generated tiles, real tiles, dataset root, notes) for a run directory."""
    notes: dict[str, str] = {}
    fakes = generate_tiles(gen, options) if gen is not None else []
    resolution = tuple(gen.resolution) if gen is not None else None
    reals: list[Tile] = []
    root = _dataset_root(run, config)
    if root is None or not (root / "dataset.json").is_file():
        notes["reals"] = (f"the run's dataset ({root}) is not available: mount it at that path to see real "
                          "images beside generated ones")
        root = None
    else:
        try:
            reals = sample_prepared(root, max(options.n_pairs, options.n_real_stats), size=resolution,  # type: ignore[arg-type]
                                    rng=numpy_rng(options.seed, Stream.REPORT_REAL_PICKS))
        except (MammoevalError, ValueError) as e:
            notes["reals"] = f"cannot read real images: {e}"
            root = None
    return fakes, reals, root, notes


def generate_tiles(gen: GeneratorLike, options: ReportOptions) -> list[Tile]:
    """Return `options.n_grid` generated tiles per view (CC then MLO), image i of a view from seed `seed + i`."""
    tiles: list[Tile] = []
    seeds = [options.seed + i for i in range(options.n_grid)]
    for label, view in enumerate(VIEWS):
        views = torch.full((len(seeds),), label, dtype=torch.int64)
        images = gen.generate(seeds, views, batch_size=options.batch_size, device=options.device)
        for s, img in zip(seeds, images.detach().cpu().float().numpy(), strict=True):
            tiles.append(Tile(id=fake_id(view, s), view=view, role="fake", image=img[0],
                              caption=f"{view} seed {s}"))
    return tiles


def fake_id(view: str, seed: int) -> str:
    """Return the id the report gives a generated image (``CC-seed12``)."""
    return f"{view}-seed{seed}"


def recorded_calibration(cache_dir: Path, selected: dict[str, Any] | None) -> Calibration | None:
    """Return the QA calibration the selected score row records (``row["qa"]["calibration"]["id"]``),
    read from the score cache folder, or None when the row records none or the file is gone."""
    recorded = ((selected or {}).get("qa") or {}).get("calibration") or {}
    cal_id = recorded.get("id") if isinstance(recorded, dict) else None
    return find_cached_calibration(cache_dir, str(cal_id)) if cal_id else None


def _build_views(fakes: list[Tile], reals: list[Tile], selected: dict[str, Any] | None, options: ReportOptions,
                 check_image: ImageChecker | None, progress: bool, *, train_root: Path | None,
                 generator: GeneratorLike | None, calibration: Calibration | None = None) -> list[ViewSection]:
    """Split tiles by view and attach QA galleries, statistics and nearest-neighbour pairs.

    QA flags are judged with `calibration` (the run's recorded one), else with one fitted on the
    report's real images of each view."""
    names = [v for v in (*VIEWS, "unknown") if any(t.view == v for t in fakes + reals)]
    sections = []
    for view in names:
        vf = [t for t in fakes if t.view == view]
        vr = [t for t in reals if t.view == view]
        analysed = analyse_view(view, vf, vr, options, check_image=check_image, progress=progress,
                                calibration=calibration)
        pairs, pair_note = nn_pairs_for_view(view, selected, options, train_root=train_root, generator=generator)
        if not pairs and train_root is not None and vf:
            pairs, search_note = nearest_training_pairs(vf, train_root, n_pairs=options.n_nn_pairs,
                                                        rng=numpy_rng(options.seed, Stream.REPORT_NN_SEARCH))
            pair_note = f"{pair_note}; {search_note}" if search_note else ""
        notes = dict(analysed.notes)
        if pair_note:
            notes["nn_pairs"] = pair_note
        shared = {f.name: getattr(analysed, f.name) for f in fields(ViewAnalysis) if f.name != "notes"}
        sections.append(ViewSection(**shared, notes=notes, view=view, fakes=vf[: options.n_grid],
                                    reals=vr[: options.n_pairs], nn_pairs=pairs))
    return sections


_PROVENANCE_KEYS = ("preset", "seed", "size", "dataset_hash", "total_kimg", "versions")


def _provenance(config: dict[str, Any], selected: dict[str, Any] | None) -> dict[str, Any]:
    """Return versions, seeds, dataset hash and settings (never header values: none are read)."""
    prov: dict[str, Any] = {k: config[k] for k in _PROVENANCE_KEYS if k in config}
    if selected:
        prov["scoring"] = {k: selected[k] for k in ("seed", "n_per_view", "settings", "versions", "scored_at")
                           if k in selected}
    return prov
