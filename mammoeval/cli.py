"""Command-line interface: a thin shell over library functions.

Each command parses its options, calls one library function and prints the result. Heavy imports
sit inside the commands so that `mammoeval --help` is instant. Every `MammoevalError` becomes one
line on stderr and exit code 2 (bad input); no traceback reaches the user. Each distinct warning
prints once per run as one line (`mammoeval.console.warnings_once`). Commands that write a file
take `--out FILE`; `--json` prints the result as JSON on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from mammoeval.core.errors import MammoevalError

EXIT_BAD_INPUT = 2


class _OneLineErrors(TyperGroup):
    """Group that turns `MammoevalError` (and `KeyboardInterrupt`) into one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors its own click; its Context type is private
        from mammoeval.console import warnings_once

        try:
            with warnings_once():
                return super().invoke(ctx)
        except MammoevalError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished files are kept; run the same command again to resume", err=True)
            raise typer.Exit(code=130) from None


app = typer.Typer(
    cls=_OneLineErrors,
    help="Train generators of synthetic mammograms and prove that what comes out is good.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(cls=_OneLineErrors, help="Prepare datasets: ingest mammograms, make phantoms.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _parse_size(text: str) -> tuple[int, int]:
    """Parse HEIGHTxWIDTH (e.g. 1280x1024)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"expected HEIGHTxWIDTH such as 1280x1024, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise typer.BadParameter(f"size must be positive, got {text!r}")
    return h, w


# --- data ------------------------------------------------------------------------------------

@data_app.command("phantom")
def data_phantom(
    n: int = typer.Option(..., "--n", min=1, help="Number of phantoms (views and lateralities balanced)."),
    out: Path = typer.Option(..., "--out", help="Prepared dataset directory (a partial run there is resumed)."),
    size: str = typer.Option("320x256", "--size", help="HEIGHTxWIDTH in pixels."),
    seed: int = typer.Option(0, "--seed", min=0, help="Dataset seed; image i depends on (seed, i) only."),
    no_findings: bool = typer.Option(False, "--no-findings", help="No calcifications, markers or text."),
    raw: Path | None = typer.Option(None, "--raw", help="Also write un-flipped PNGs named ID_LAT_VIEW.png here."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Make seeded phantom mammograms as a prepared dataset, with ground truth in findings.json."""
    from rich.console import Console

    from mammoeval.data.phantom import TRUTH_FILE, FindingsConfig, write_phantom_dataset

    findings = FindingsConfig.none() if no_findings else FindingsConfig()
    info = write_phantom_dataset(out, n=n, size=_parse_size(size), seed=seed, findings=findings,
                                 raw_dir=raw, workers=workers, progress=not no_progress)
    counts = ", ".join(f"{k} {v}" for k, v in info.counts.items() if "/" in k)
    Console().print(f"{info.n_images} phantoms {info.height}x{info.width} in {out} ({counts}); "
                    f"ground truth {out / TRUTH_FILE}; content hash {info.content_hash[:16]}")


@data_app.command("prepare")
def data_prepare(
    src: Path = typer.Argument(..., exists=True, file_okay=False, readable=True,
                               help="Folder tree of DICOM / PNG / JPEG / TIFF / PGM mammograms."),
    out: Path = typer.Option(..., "--out", help="Prepared dataset directory (a partial run there is resumed)."),
    size: str = typer.Option("1280x1024", "--size", help="Target HEIGHTxWIDTH in pixels (portrait)."),
    bits: int = typer.Option(8, "--bits", help="Bits per stored pixel: 8 or 16."),
    manifest: Path | None = typer.Option(None, "--manifest", exists=True, dir_okay=False,
                                            help="CSV path,view,laterality[,split] (paths relative to SRC)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes (default: min(4, CPUs))."),
    allow_modality: list[str] = typer.Option([], "--allow-modality",
                                             help="Accept this DICOM Modality besides MG (repeatable), e.g. RG."),
    allow_upsample: bool = typer.Option(False, "--allow-upsample", help="Enlarge images smaller than --size."),
    views: str | None = typer.Option(None, "--views", help="Keep only these views, e.g. CC,MLO (default: all)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Ingest mammograms into a prepared dataset: canonical orientation, fit, pad, manifest, hash."""
    from rich.console import Console
    from rich.table import Table

    from mammoeval.data.prepare import prepare_dataset

    if bits not in (8, 16):
        raise typer.BadParameter(f"--bits must be 8 or 16, got {bits}")
    summary = prepare_dataset(
        src, out, size=_parse_size(size), bits=bits, manifest=manifest, workers=workers,  # type: ignore[arg-type]
        allowed_modalities=("MG", *allow_modality), allow_upsample=allow_upsample,
        views=None if views is None else [v for v in views.split(",") if v.strip()], progress=not no_progress)
    table = Table(title=f"{summary.n_prepared} images in {summary.out}")
    lats = sorted({k.split("/")[1] for k in summary.info.counts if "/" in k})
    table.add_column("view")
    for lat in lats:
        table.add_column(lat, justify="right")
    for v in sorted({k.split("/")[0] for k in summary.info.counts if "/" in k}):
        table.add_row(v, *(str(summary.info.counts.get(f"{v}/{lat}", 0)) for lat in lats))
    console = Console()
    console.print(table)
    console.print(f"reused {summary.n_reused} from an earlier run, processed {summary.n_processed}; "
                  f"skipped {len(summary.skipped)} (reasons in {summary.skipped_file})")
    console.print(f"content hash {summary.info.content_hash[:16]}")


# --- train -----------------------------------------------------------------------------------

@app.command("train")
def train_command(
    out: Path = typer.Option(..., "--out", help="Run directory (config.json, log.jsonl, checkpoints/, grids/)."),
    data: Path | None = typer.Option(None, "--data", help="Prepared dataset at the preset's size (or a "
                                     "power-of-two multiple). Default: the built-in phantom, made in RUN/data."),
    preset: str | None = typer.Option(None, "--preset", help="demo (80x64 phantom, small network, minutes on a "
                                      "CPU) or paper (1280x1024, Korkinof et al.). Default: demo, or the saved "
                                      "config with --resume."),
    kimg: float | None = typer.Option(None, "--kimg", min=0.001, help="Total length in thousands of images shown."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed of weights, latents and data order."),
    precision: str | None = typer.Option(None, "--precision", help="fp32 or bf16 (autocast; for GPUs)."),
    channels_last: bool | None = typer.Option(None, "--channels-last/--no-channels-last",
                                              help="Channels-last memory format (for GPUs)."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda (default auto)."),
    workers: int | None = typer.Option(None, "--workers", min=0, help="DataLoader workers for streamed stages."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch (default: torch's)."),
    swd_per_view: int | None = typer.Option(None, "--swd-per-view", min=0, help="SWD of this many images per view "
                                            "at each snapshot into RUN/metrics.jsonl (0 = off; demo: 64)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Train the progressive WGAN-GP (multi-GPU: torchrun --nproc_per_node N -m mammoeval train ...)."""
    import json
    import os

    from rich.console import Console

    from mammoeval_train.loop import resolve_config, train

    cfg = resolve_config(preset, out=out, resume=resume, total_kimg=kimg, seed=seed, precision=precision,
                         channels_last=channels_last, device=device, num_workers=workers,
                         swd_per_view=swd_per_view)
    console = Console()
    if dry_run:
        console.print_json(json.dumps(cfg.to_dict()))
        return
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    s = train(cfg, data=data, out=out, resume=resume, progress=not no_progress)
    if os.environ.get("RANK", "0") == "0":
        h, w = s.resolution
        console.print(f"trained to kimg {s.kimg:.1f}: stage {s.stage} ({h}x{w}), {s.ticks} ticks, "
                      f"{s.seconds / 60:.1f} min of training; last checkpoint {s.last_checkpoint}")


# --- qa --------------------------------------------------------------------------------------
@app.command("qa")
def qa_command(
    directory: Path = typer.Argument(..., help="Prepared dataset or plain folder of mammograms; "
                                               "or `calibrate` followed by the real images."),
    real: Path | None = typer.Argument(None, help="With `calibrate`: the clean real images to fit thresholds on."),
    out: Path | None = typer.Option(None, "--out", help="Output folder for qa.csv and qa.json (default: ./qa); "
                                                       "with `calibrate`: the calibration JSON file (default: ./calib.json)."),
    calibration: Path | None = typer.Option(None, "--calibration", exists=True, dir_okay=False,
                                            help="Judge the flags with this calibration (from `qa calibrate`); "
                                                 "default: the shipped thresholds."),
    fp_rate: float = typer.Option(0.02, "--fp-rate", min=0.001, max=0.2,
                                  help="With `calibrate`: share of clean real images each detector may flag."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Worker processes (default: the cores this process may use)."),
    accept_out: Path | None = typer.Option(None, "--accept-out", help="Copy the images that pass QA here, "
                                           "with curation.csv (every image's decision and reasons)."),
    reject_out: Path | None = typer.Option(None, "--reject-out", help="Copy the images that fail QA here."),
    link: bool = typer.Option(False, "--link", help="Hard-link instead of copying (same file system)."),
    as_json: bool = typer.Option(False, "--json", help="Print qa.json (the summary) on stdout."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Run the QA checks (anatomy, view, artifacts, calcifications) on every image of DIR.

    `mammoeval qa calibrate REAL --out calib.json` fits the detector thresholds on clean real images
    instead; `mammoeval qa DIR --calibration calib.json` judges DIR with them.
    """
    from rich.console import Console

    if str(directory) == "calibrate" and not directory.exists():
        _qa_calibrate(real, out, fp_rate, no_progress, Console())
        return
    if not directory.exists():
        raise typer.BadParameter(f"{directory} does not exist", param_hint="DIRECTORY")
    from mammoeval.core.pool import resolve_workers
    from mammoeval.qa import DETECTORS, scan_path, write_qa
    from mammoeval.qa.calibration import read_calibration

    cal = read_calibration(calibration) if calibration is not None else None
    scan = scan_path(directory, progress=not (no_progress or as_json), calibration=cal,
                     workers=resolve_workers(workers))
    out_dir = out if out is not None else Path("qa")
    write_qa(scan, out_dir)
    summary = scan.summary()["views"]["all"]
    console = Console(stderr=as_json)
    console.print(f"[bold]{len(scan.rows)}[/] images checked -> {out_dir / 'qa.csv'}, {out_dir / 'qa.json'} "
                  f"(thresholds: {cal.id if cal else 'shipped defaults'})")
    if summary["n"]:
        rates = ", ".join(f"{d} {summary['artifact_rate'][d]:.0%}" for d in DETECTORS)
        console.print(f"flagged: any {summary['artifact_rate']['any']:.0%} ({rates}); "
                      f"images with calcifications {summary['calcs']['share_with_calcs']:.0%}")
    if accept_out is not None:
        _print_curation(console, directory, scan.rows, accept_out, reject_out, link)
    elif reject_out is not None:
        raise typer.BadParameter("--reject-out needs --accept-out")
    if as_json:
        import json

        typer.echo(json.dumps(scan.summary(), sort_keys=True, default=str))


def _print_curation(console: Any, directory: Path, rows: Any, accept_out: Path, reject_out: Path | None,
                    link: bool) -> None:
    from mammoeval.export.curate import curate

    cur = curate(directory, rows, accept_out=accept_out, reject_out=reject_out, link=link)
    where = f", rejected -> {cur.rejected_dir}" if cur.rejected_dir is not None else ""
    console.print(f"accepted {cur.n_accepted} -> {cur.accepted_dir}, rejected {cur.n_rejected}{where}; "
                  f"decisions and reasons in {cur.csv}")



# --- generate --------------------------------------------------------------------------------
@app.command("generate")
def generate_command(
    run_dir: Path = typer.Argument(..., help="Run directory (config.json, checkpoints/, best.json)."),
    n: int = typer.Option(..., "--n", min=1, help="Images per view (both views, or the one --view names)."),
    out: Path = typer.Option(..., "--out", help="Export folder (images, manifest.csv, manifest.json)."),
    fmt: str = typer.Option("png", "--format", help="png, or dicom (MG For Presentation, marked synthetic)."),
    bits: int | None = typer.Option(None, "--bits", help="PNG: 8 or 16 (default 8). DICOM: Bits Stored 8-16 (default 12)."),
    checkpoint: str | None = typer.Option(None, "--checkpoint", help="Checkpoint file name (default: best.json's, "
                                          "else the newest)."),
    seed: int = typer.Option(0, "--seed", min=0, help="First latent seed (CC seed..seed+N-1, then MLO; as `score`)."),
    pixel_spacing: float | None = typer.Option(None, "--pixel-spacing", help="DICOM: Imager Pixel Spacing in mm to "
                                               "record (e.g. that of the training images; default: none)."),
    view: str | None = typer.Option(None, "--view", help="Only this view: CC or MLO."),
    device: str = typer.Option("cpu", "--device", help="Torch device."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per forward pass."),
    accept_out: Path | None = typer.Option(None, "--accept-out", help="Also run QA and copy the passing images here."),
    reject_out: Path | None = typer.Option(None, "--reject-out", help="With --accept-out: copy failing images here."),
    link: bool = typer.Option(False, "--link", help="With --accept-out: hard-link instead of copying."),
    as_json: bool = typer.Option(False, "--json", help="Print the export manifest as JSON on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
) -> None:
    """Generate N images per view from a run's checkpoint as PNG or synthetic-marked DICOM, with a manifest."""
    import json

    from rich.console import Console

    from mammoeval.core.fsutil import read_json
    from mammoeval.export.generate import ExportSettings, generate_export

    if reject_out is not None and accept_out is None:
        raise typer.BadParameter("--reject-out needs --accept-out")
    views = ("CC", "MLO") if view is None else (view.strip().upper(),)
    settings = ExportSettings(n_per_view=n, seed=seed, views=views, format=fmt.lower(),  # type: ignore[arg-type]
                              bits=bits, checkpoint=checkpoint, pixel_spacing_mm=pixel_spacing, device=device,
                              batch_size=batch_size)
    result = generate_export(run_dir, out, settings, progress=progress and not as_json)
    console = Console(stderr=as_json)
    console.print(f"{len(result.rows)} {settings.format} images from {result.checkpoint.name} "
                  f"({result.chosen_by}) -> {result.out}; manifest {result.manifest_csv}")
    if accept_out is not None:
        from mammoeval.qa import scan_folder

        scan = scan_folder(result.out, progress=progress and not as_json)
        _print_curation(console, result.out, scan.rows, accept_out, reject_out, link)
    if as_json:
        typer.echo(json.dumps(read_json(result.manifest_json), sort_keys=True))


# --- study -----------------------------------------------------------------------------------
study_app = typer.Typer(cls=_OneLineErrors, help="Blinded reader studies: real or generated?", no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("make")
def study_make(
    real: Path = typer.Option(..., "--real", help="Real images (folder or prepared dataset)."),
    fake: Path = typer.Option(..., "--fake", help="Generated images (folder, export or prepared dataset)."),
    n: int = typer.Option(..., "--n", min=1, help="Images of each kind (the study shows 2N, shuffled)."),
    out: Path = typer.Option(..., "--out", help="Study folder: page/ (give readers this), key.csv, study.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the image draw and the order."),
    title: str = typer.Option("Real or generated?", "--title", help="Page title."),
    as_json: bool = typer.Option(False, "--json", help="Print study.json on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
) -> None:
    """Write a blinded, offline real-vs-generated reading page and its answer key (kept outside the page)."""
    import json

    from rich.console import Console

    from mammoeval.core.fsutil import read_json
    from mammoeval.study.make import make_study

    res = make_study(real, fake, n=n, out=out, seed=seed, title=title, progress=progress and not as_json)
    if as_json:
        typer.echo(json.dumps(read_json(res.study_json), sort_keys=True))
        return
    Console().print(f"{res.n_items} images -> [bold]{res.page}[/] (give readers {res.page.parent}); "
                    f"answer key {res.key} (keep it away from readers)")


@study_app.command("score")
def study_score(
    answers: list[Path] = typer.Argument(..., help="Answers CSV files exported by the page (reader,item,rating)."),
    key: Path = typer.Option(..., "--key", help="key.csv written by `study make`."),
    out: Path | None = typer.Option(None, "--out", help="Results JSON file (e.g. RUN/study_results.json)."),
    n_bootstrap: int = typer.Option(2000, "--n-bootstrap", min=0, help="Bootstrap replicates per interval."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """Score a reader study: AUC per reader and pooled (95% bootstrap interval), accuracy, per view."""
    import json

    from rich.console import Console
    from rich.table import Table

    from mammoeval.study.score import POOLED, score_study, write_results

    results = score_study(answers, key=key, n_bootstrap=n_bootstrap, seed=seed)
    if out is not None:
        write_results(results, out)
    if as_json:
        typer.echo(json.dumps(results, sort_keys=True))
        return
    table = Table(title=f"reader study: {results['n_items_rated']} of {results['n_items']} images rated "
                        "(AUC 0.5 = cannot tell real from generated)")
    for col in ("reader", "n", "AUC [95% CI]", "accuracy", "undecided", "per view AUC"):
        table.add_column(col, justify="left" if col in ("reader", "per view AUC") else "right")
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    rows = [*results["readers"].items(), (POOLED, results[POOLED])]
    for name, r in rows:
        ci = f" [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]" if r.get("ci") else ""
        views = ", ".join(f"{v} {fmt(x['auc'])}" for v, x in r["views"].items())
        table.add_row(name, str(r["n"]), fmt(r["auc"]) + ci, fmt(r["accuracy"]), fmt(r["undecided"]), views)
    console = Console()
    console.print(table)
    if out is not None:
        console.print(f"results: {out}")

def _qa_calibrate(real: Path | None, out: Path | None, fp_rate: float, no_progress: bool, console: Any) -> None:
    """`qa calibrate REAL`: fit the thresholds on REAL, write them, print what was fitted."""
    if real is None or not real.exists():
        raise typer.BadParameter("`qa calibrate` needs the folder of clean real images", param_hint="REAL")
    import warnings

    from mammoeval.qa.calibration import CalibrationWarning, write_calibration
    from mammoeval.qa.scan import calibrate_path

    with warnings.catch_warnings():  # printed below, once, as one line
        warnings.simplefilter("ignore", CalibrationWarning)
        cal = calibrate_path(real, fp_rate=fp_rate, progress=not no_progress)
    path = out if out is not None else Path("calib.json")
    write_calibration(cal, path)
    for w in cal.warnings:
        typer.echo(f"warning: {w}", err=True)
    fitted = {k: v.n_images for k, v in cal.views.items() if v.calibrated}
    console.print(f"calibration {cal.id} -> {path} (fitted views: {fitted or 'none'}; "
                  f"{len(cal.data_quality)} data-quality findings among the real images)")


# --- score -----------------------------------------------------------------------------------
@app.command("score")
def score_command(
    run_dir: Path | None = typer.Argument(None, help="Run directory: score its checkpoints into scores.jsonl."),
    real: Path | None = typer.Option(None, "--real", help="Folder mode: real images (folder or prepared dataset)."),
    fake: Path | None = typer.Option(None, "--fake", help="Folder mode: generated images (any generator)."),
    out: Path | None = typer.Option(None, "--out", help="Folder mode: a .json file or a folder (-> scores.json)."),
    size: str | None = typer.Option(None, "--size", help="Folder mode: HEIGHTxWIDTH a plain --real folder is fitted "
                                                         "to (default: the generated images' size)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Folder mode: cache the real side's statistics "
                                                                    "and QA scan here (default: no cache)."),
    last: int | None = typer.Option(None, "--last", min=1, help="Only the newest K checkpoints."),
    every: int | None = typer.Option(None, "--every", min=1, help="Every N-th checkpoint, counted back from the newest."),
    n: int = typer.Option(256, "--n", "--n-per-view", min=1,
                          help="Generated images per view (CC and MLO), seeds SEED .. SEED+2N-1 "
                               "(under torchrun write --n-per-view: torchrun reads --n as its own option)."),
    seed: int = typer.Option(0, "--seed", help="First generation seed; also seeds the metrics."),
    metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated metric names (default: the suite's)."),
    select: str = typer.Option("swd", "--select", help="best.json rule: swd, composite or a metric key."),
    qa: bool = typer.Option(True, "--qa/--no-qa", help="Run the QA scan (artifact rates, calcifications)."),
    device: str = typer.Option("cpu", "--device", help="Torch device for generation and features."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per batch."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Worker processes for per-image work (default: the cores this "
                                            "process may use; 1 = none). Ignored under torchrun."),
    n_bootstrap: int = typer.Option(200, "--n-bootstrap", min=0, help="Bootstrap replicates per interval."),
    inception_weights: Path | None = typer.Option(None, "--inception-weights", help="FID Inception weights file."),
    as_json: bool = typer.Option(False, "--json", help="Print the new rows and best.json as JSON on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
) -> None:
    """Score a run's checkpoints (incremental; picks best.json) or two image folders (--real/--fake)."""
    import json

    from rich.console import Console

    from mammoeval.core.errors import ConfigError
    from mammoeval.score.distributed import is_rank_zero
    from mammoeval.score.settings import ScoreSettings
    from mammoeval.score.summary import render_summary

    if (run_dir is None) == (real is None and fake is None) or (run_dir is None and (real is None or fake is None)):
        raise ConfigError("give either RUN_DIR or both --real DIR and --fake DIR")
    if run_dir is not None and cache_dir is not None:
        raise ConfigError("--cache-dir is for folder mode (--real/--fake); a run caches in RUN/.cache")
    if run_dir is not None and size is not None:
        raise ConfigError("--size is for folder mode (--real/--fake); a run is scored at its checkpoints' resolution")
    settings = ScoreSettings(n_per_view=n, seed=seed, n_bootstrap=n_bootstrap, qa=qa, device=device,
                             batch_size=batch_size, workers=workers, inception_weights=str(inception_weights) if inception_weights else None,
                             metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics else None)
    console = Console(stderr=as_json)
    if run_dir is None:
        from mammoeval.score.folder_mode import folder_scores_path, score_folders

        target = out if out is not None else Path("scores.json")
        row = score_folders(real, fake, settings=settings, out=target, progress=progress and not as_json,  # type: ignore[arg-type]
                            size=_parse_size(size) if size else None, cache_dir=cache_dir)
        if not is_rank_zero():  # torchrun: rank 0 prints
            return
        if as_json:
            typer.echo(json.dumps(row, sort_keys=True))
            return
        console.print(render_summary([row], None, title=f"{fake} vs {real}"))
        console.print(f"scores: {folder_scores_path(target)}")
        return
    from mammoeval.score.run import score_run

    result = score_run(run_dir, settings=settings, last=last, every=every, select=select,
                       progress=progress and not as_json)
    if not is_rank_zero():  # torchrun: rank 0 prints
        return
    if as_json:
        typer.echo(json.dumps({"new_rows": result.new_rows, "already_scored": result.already_scored,
                               "too_small": result.too_small, "best": result.best,
                               "failed": [list(f) for f in result.failed]}, sort_keys=True))
        return
    console.print(render_summary(result.rows, result.best, title=f"scores of {run_dir} ({len(result.new_rows)} new)"))
    if result.too_small:
        console.print(f"not scored (below {settings.min_side} px): {', '.join(result.too_small)}")
    for name, reason in result.failed:
        console.print(f"not scored: {name}: {reason}", markup=False)
    if result.best is not None:
        console.print(f"best: [bold]{result.best['checkpoint']}[/] ({result.best['explanation']})")


# --- gate ------------------------------------------------------------------------------------
@app.command("gate")
def gate_command(
    scores: Path = typer.Argument(..., help="Run directory, scores.jsonl, or a scores.json (folder mode)."),
    baseline: Path = typer.Option(..., "--baseline", help="Baseline score row (JSON) written by --update-baseline."),
    rules: Path | None = typer.Option(None, "--rules", help="Rules TOML (default: the packaged gate_rules.toml)."),
    checkpoint: str | None = typer.Option(None, "--checkpoint",
                                             help="Checkpoint to gate (default: best.json's, else the last row)."),
    out: Path | None = typer.Option(None, "--out", help="Verdict file (default: gate.json beside SCORES)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON on stdout (the table goes to stderr)."),
    update: bool = typer.Option(False, "--update-baseline", help="Record the scores as the new baseline; no gating."),
) -> None:
    """Gate on quality: exit 0 pass, 1 regression (failing rules printed), 2 bad input."""
    import json

    from rich.console import Console
    from rich.table import Table

    from mammoeval.gate import run_gate, update_baseline

    console = Console(stderr=as_json)
    if update:
        row = update_baseline(scores, baseline=baseline, checkpoint=checkpoint)
        console.print(f"baseline {baseline} <- {row['checkpoint']} ({row.get('kimg')} kimg)")
        return
    verdict = run_gate(scores, baseline=baseline, rules=rules, checkpoint=checkpoint, out=out)
    if as_json:
        typer.echo(json.dumps(verdict, sort_keys=True))
        raise typer.Exit(code=verdict["exit_code"])
    table = Table(title=f"gate: {verdict['checkpoint']} vs baseline {verdict['baseline_checkpoint']}")
    for col in ("rule", "metric", "value", "baseline", "limit", "result"):
        table.add_column(col)
    for r in verdict["rules"]:
        result = "[yellow]skipped[/]" if r["skipped"] else "[green]pass[/]" if r["passed"] else "[red]FAIL[/]"
        fmt = lambda v: "-" if v is None else f"{v:.6g}"  # noqa: E731
        table.add_row(r["name"], f"{r['metric']} ({r['view']})", fmt(r["value"]), fmt(r["baseline"]), r["limit"], result)
    console.print(table)
    for r in verdict["rules"]:
        if not r["passed"]:
            typer.echo(f"FAIL {r['name']}: {r['message']}")
    typer.echo(f"verdict: {verdict['verdict']}")
    raise typer.Exit(code=verdict["exit_code"])


# --- report ----------------------------------------------------------------------------------
@app.command("report")
def report_cmd(
    run_dir: Path | None = typer.Argument(None, help="Run directory (config.json, scores.jsonl, ...)."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default: RUN_DIR/report; ./report for folders)."),
    real: Path | None = typer.Option(None, "--real", help="Folder mode: reference images (folder or dataset)."),
    fake: Path | None = typer.Option(None, "--fake", help="Folder mode: generated images (folder or dataset)."),
    scores: Path | None = typer.Option(None, "--scores", help="Folder mode: scores.json of `mammoeval score`."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated samples and of every random pick."),
    n_grid: int = typer.Option(30, "--n-grid", min=1, help="Generated images per view in the random grid."),
    device: str = typer.Option("cpu", "--device", help="Torch device for generating samples."),
    study: Path | None = typer.Option(None, "--study", help="Reader study results (`study score --out`) to show "
                                      "(default: RUN_DIR/study_results.json when present)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Write the offline HTML report of a run (or of a scored pair of folders) and print where it is."""
    from rich.console import Console

    from mammoeval.report.build import build_report
    from mammoeval.report.context import ReportOptions

    options = ReportOptions(seed=seed, n_grid=n_grid, device=device)
    result = build_report(run_dir, out=out, real=real, fake=fake, scores=scores, options=options,
                          study=study, progress=progress)
    Console().print(f"report: [bold]{result.index}[/bold] ({result.n_images} images, "
                    f"{result.size_bytes / 1e6:.1f} MB); figure numbers in {result.json}")



def main() -> None:
    """Console-script entry point."""
    app()
