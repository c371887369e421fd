"""Command-line interface: a thin shell over library functions.

Each command parses its options, calls one library function and prints the result. Heavy imports
sit inside the commands so that `mammoeval --help` is instant. Every `MammoevalError` becomes one
line on stderr and exit code 2 (bad input); no traceback reaches the user.
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
        try:
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
# (filled by the foundation issue: `data prepare`, `data phantom`)

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
# (filled by the trainer issue)

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
    directory: Path = typer.Argument(..., exists=True, readable=True,
                                     help="Prepared dataset or plain folder of mammograms."),
    out: Path | None = typer.Option(None, "--out", help="Output folder for qa.csv and qa.json (default: ./qa)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
) -> None:
    """Run the QA checks (anatomy, view, artifacts, calcifications) on every image of DIR."""
    from rich.console import Console

    from mammoeval.data.open import open_image_set
    from mammoeval.data.prepared import is_prepared_dataset
    from mammoeval.qa import DETECTORS, scan_folder, scan_image_set, write_qa

    if is_prepared_dataset(directory):
        scan = scan_image_set(open_image_set(directory), progress=not no_progress)
    else:  # a plain folder: each image at its own size
        scan = scan_folder(directory, progress=not no_progress)
    out_dir = out if out is not None else Path("qa")
    write_qa(scan, out_dir)
    summary = scan.summary()["views"]["all"]
    console = Console()
    console.print(f"[bold]{len(scan.rows)}[/] images checked -> {out_dir / 'qa.csv'}, {out_dir / 'qa.json'}")
    if summary["n"]:
        rates = ", ".join(f"{d} {summary['artifact_rate'][d]:.0%}" for d in DETECTORS)
        console.print(f"flagged: any {summary['artifact_rate']['any']:.0%} ({rates}); "
                      f"images with calcifications {summary['calcs']['share_with_calcs']:.0%}")



# --- score -----------------------------------------------------------------------------------
@app.command("score")
def score_command(
    run_dir: Path | None = typer.Argument(None, help="Run directory: score its checkpoints into scores.jsonl."),
    real: Path | None = typer.Option(None, "--real", help="Folder mode: real images (folder or prepared dataset)."),
    fake: Path | None = typer.Option(None, "--fake", help="Folder mode: generated images (any generator)."),
    out: Path | None = typer.Option(None, "--out", help="Folder mode: a .json file or a folder (-> scores.json)."),
    size: str | None = typer.Option(None, "--size", help="Folder mode: HEIGHTxWIDTH a plain --real folder is fitted "
                                                         "to (default: the generated images' size)."),
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
    if run_dir is not None and size is not None:
        raise ConfigError("--size is for folder mode (--real/--fake); a run is scored at its checkpoints' resolution")
    settings = ScoreSettings(n_per_view=n, seed=seed, n_bootstrap=n_bootstrap, qa=qa, device=device,
                             batch_size=batch_size, inception_weights=str(inception_weights) if inception_weights else None,
                             metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics else None)
    console = Console(stderr=as_json)
    if run_dir is None:
        from mammoeval.score.folder_mode import folder_scores_path, score_folders

        target = out if out is not None else Path("scores.json")
        row = score_folders(real, fake, settings=settings, out=target, progress=progress and not as_json,  # type: ignore[arg-type]
                            size=_parse_size(size) if size else None)
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
                               "too_small": result.too_small, "best": result.best}, sort_keys=True))
        return
    console.print(render_summary(result.rows, result.best, title=f"scores of {run_dir} ({len(result.new_rows)} new)"))
    if result.too_small:
        console.print(f"not scored (below {settings.min_side} px): {', '.join(result.too_small)}")
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
    json_out: Path | None = typer.Option(None, "--json", help="Verdict path (default: gate.json beside SCORES)."),
    update: bool = typer.Option(False, "--update-baseline", help="Record the scores as the new baseline; no gating."),
) -> None:
    """Gate on quality: exit 0 pass, 1 regression (failing rules printed), 2 bad input."""
    from rich.console import Console
    from rich.table import Table

    from mammoeval.gate import run_gate, update_baseline

    console = Console()
    if update:
        row = update_baseline(scores, baseline=baseline, checkpoint=checkpoint)
        console.print(f"baseline {baseline} <- {row['checkpoint']} ({row.get('kimg')} kimg)")
        return
    verdict = run_gate(scores, baseline=baseline, rules=rules, checkpoint=checkpoint, out=json_out)
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
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Write the offline HTML report of a run (or of a scored pair of folders) and print where it is."""
    from rich.console import Console

    from mammoeval.report.build import build_report
    from mammoeval.report.context import ReportOptions

    options = ReportOptions(seed=seed, n_grid=n_grid, device=device)
    result = build_report(run_dir, out=out, real=real, fake=fake, scores=scores, options=options,
                          progress=progress)
    Console().print(f"report: [bold]{result.index}[/bold] ({result.n_images} images, "
                    f"{result.size_bytes / 1e6:.1f} MB); figure numbers in {result.json}")



def main() -> None:
    """Console-script entry point."""
    app()
