"""Scoring a run directory: every (selected) checkpoint -> one row of RUN/scores.jsonl, then best.json.

Incremental and crash-safe: a row is appended (fsynced) only once a checkpoint is fully scored,
and rows are keyed by (checkpoint name, settings hash), so a second call scores only new
checkpoints and a call killed midway resumes with the first unscored one (a partial last line
left by a kill is cut by the next append, `mammoeval.core.jsonl`). best.json is rewritten atomically
after each call from every row with the current settings.

A checkpoint that cannot be loaded (truncated, foreign, non-finite weights) does not stop the
call: a row (checkpoint, reason, settings_hash, at) is appended to RUN/scores-skipped.jsonl
(`rundir.SCORE_SKIPS_FILE`), the other checkpoints are scored, and best.json is written from the
good ones. The next call tries it again.

The upstream stages are injected through `ScoreBackends` (the real trainer, metrics suite and QA
scan by default) so the bookkeeping can be tested with cheap stand-ins.
"""

from __future__ import annotations

import datetime as dt
import functools
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy
import torch
from rich.console import Console

import mammoeval
from mammoeval.core.ddp import DistEnv
from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval.core.fsutil import sha256_file, write_json_atomic
from mammoeval.core.jsonl import append_jsonl, repair_tail
from mammoeval.core.pool import WorkerPool
from mammoeval.core.rundir import (
    BEST_FILE,
    CHECKPOINT_DIR,
    SCORE_SKIPS_FILE,
    SCORES_FILE,
    CheckpointRef,
    list_checkpoints,
    read_config,
)
from mammoeval.data.imageset import ImageSet
from mammoeval.data.open import open_image_set
from mammoeval.metrics.frd import radiomics_regions
from mammoeval.metrics.registry import default_metrics
from mammoeval.metrics.suite import compute_suite, suite_extractor_specs
from mammoeval.qa.breast_mask import compute_breast_mask
from mammoeval.qa.scan import QAConfig, compare_scans, scan_image_set
from mammoeval.score.distributed import (
    ShardedFileImageSet,
    ShardedGeneratedImageSet,
    ShardWork,
    finish,
    score_env,
    serve_generation,
    sharded_generation,
    shutdown,
)
from mammoeval.score.generated import GeneratedImageSet, ReducedImageSet, Sampler
from mammoeval.score.pooled import PooledImageSet, collected_scan, pool_set, suite_work
from mammoeval.score.qa_cache import load_qa_scan, qa_cache_path, save_qa_scan
from mammoeval.score.scale import scale_of
from mammoeval.score.schema import read_score_rows
from mammoeval.score.selection import select_checkpoint
from mammoeval.score.settings import ScoreSettings
from mammoeval_train.generate import load_generator

CACHE_DIR = ".cache"
POOL_PRELOAD: tuple[str, ...] = ("mammoeval.qa.scan", "mammoeval.score.pooled")
"""Modules the worker pool's forkserver imports before it forks the workers."""
"""Real-set statistics are cached under RUN/.cache/ (keyed by content hash by the suite)."""


@dataclass(frozen=True)
class ScoreBackends:
    """The upstream functions the scorer calls (real ones from `default_backends`)."""

    load_generator: Callable[..., Sampler]
    compute_suite: Callable[..., Any]
    default_metrics: tuple[str, ...]
    open_real: Callable[[Path], ImageSet]
    scan_image_set: Callable[..., Any] | None = None
    compare_scans: Callable[..., dict[str, Any]] | None = None
    """`(real_scan, fake_scan, cache_dir=) -> row["qa"]`; it fits the QA calibration on the real scan,
    cached under `cache_dir` (the folder real-set statistics are cached in; None = not on disk)."""
    extractor_specs: Callable[..., tuple[Any, ...]] | None = None
    """Under torchrun: `(metrics, inception_weights=) -> ExtractorSpec`s whose features the other ranks
    compute for `compute_suite` (None = the suite extracts every feature on rank 0)."""
    qa_config: Any = None
    """Under torchrun: the `QAConfig` `scan_image_set` uses by default; the other ranks check their
    share of the images with it (None = rank 0 checks every image)."""


def default_backends() -> ScoreBackends:
    """Return the real trainer / metrics / QA entry points (imported here, lazily)."""
    return ScoreBackends(load_generator=load_generator,
                         compute_suite=functools.partial(compute_suite, breast_masker=compute_breast_mask),
                         default_metrics=default_metrics(), open_real=open_image_set,
                         scan_image_set=scan_image_set, compare_scans=compare_scans,
                         extractor_specs=suite_extractor_specs, qa_config=QAConfig())


@dataclass(frozen=True)
class RunScoreResult:
    """What one `score_run` call did.

    Attributes:
        new_rows: rows appended by this call, in training order.
        rows: every row with the current settings (old and new), in file order.
        already_scored: checkpoint names skipped because a row with these settings existed.
        too_small: checkpoint names not scored because their resolution is below `min_side`.
        best: the best.json object written, or None when no row could be compared.
        failed: (checkpoint name, one-line reason) of checkpoints that could not be loaded; also
            appended to RUN/scores-skipped.jsonl.
    """

    new_rows: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    already_scored: list[str] = field(default_factory=list)
    too_small: list[str] = field(default_factory=list)
    best: dict[str, Any] | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)


def pick_checkpoints(refs: Sequence[CheckpointRef], *, last: int | None = None,
                     every: int | None = None) -> list[CheckpointRef]:
    """Return the checkpoints to consider, in training order.

    Args:
        refs: all checkpoints, in training order.
        last: keep only the newest `last` (after `every`).
        every: keep every `every`-th checkpoint counted back from the newest, which is always kept.
    """
    chosen = list(refs)
    if every is not None:
        if every < 1:
            raise ConfigError(f"--every must be >= 1, got {every}")
        chosen = chosen[::-1][::every][::-1]
    if last is not None:
        if last < 1:
            raise ConfigError(f"--last must be >= 1, got {last}")
        chosen = chosen[-last:]
    return chosen


def resolve_dataset_path(run_dir: Path, config: dict[str, Any]) -> Path:
    """Return the run's real dataset folder (config.json `dataset_path`; relative = to the run dir or cwd).

    Raises:
        BadInputError: the config names no dataset, or it no longer exists.
    """
    raw = config.get("dataset_path")
    if not raw:
        raise BadInputError(run_dir / "config.json", "has no dataset_path; cannot find the real images")
    path = Path(raw)
    if not path.is_absolute() and (run_dir / path).exists():
        path = run_dir / path
    if not path.exists():
        raise BadInputError(path, "the run's real dataset (config.json dataset_path) is missing; "
                                  "restore it or score folders with --real/--fake")
    return path


def real_reduction(real_size: tuple[int, int], resolution: tuple[int, int], dataset: Path) -> int:
    """Return the power-of-two factor that brings the real images to a generator's resolution.

    Raises:
        BadInputError: the real size is not a power-of-two multiple of the resolution.
    """
    (rh, rw), (gh, gw) = real_size, resolution
    r = rh // gh if gh else 0
    if r < 1 or r * gh != rh or r * gw != rw or r & (r - 1):
        raise BadInputError(dataset, f"real images are {rh}x{rw}, not a power-of-two multiple of the "
                                     f"generator's {gh}x{gw}")
    return r


def library_versions() -> dict[str, str]:
    return {"mammoeval": mammoeval.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _RealSide:
    """The real set at each resolution, and its QA scan computed once per resolution per call."""

    base: ImageSet
    path: Path
    scans: dict[tuple[int, int], Any] = field(default_factory=dict)

    def at(self, resolution: tuple[int, int]) -> ImageSet:
        r = real_reduction(self.base.size, resolution, self.path)
        return self.base if r == 1 else ReducedImageSet(self.base, r)


def score_images(real: ImageSet, fake: ImageSet, *, settings: ScoreSettings, backends: ScoreBackends,
                 metrics: Sequence[str], cache_dir: Path | None, progress: bool,
                 real_scan: Any = None, pool: WorkerPool | None = None) -> tuple[dict[str, Any], Any]:
    """Return (the row's measured part, the real QA scan) for one real and one fake set.

    When the sets are sharded across torchrun ranks (`mammoeval.score.distributed`), the other ranks
    compute the features of the suite's extractors (`backends.extractor_specs`) and the QA rows
    (`backends.qa_config`) of their share of the batches; time spent waiting for them counts as
    generate_s (generated set) or metrics_s / qa_s (real set) on rank 0.

    With a `pool` of several workers (one process, `mammoeval.score.pooled`), the workers check
    every image in the suite's pass (and compute the features where that pays, see `suite_work`),
    so the QA scan needs no pass of its own: its time is counted in metrics_s then. The real QA
    scan is read from / written to `cache_dir` (`mammoeval.score.qa_cache`) when QA uses
    `backends.qa_config`.

    The measured part holds "metrics", "unavailable", "memorization", "qa" (None when QA is off or
    unavailable), "scale" (per metric: images used and working resolution, `mammoeval.score.scale`)
    and "timing" (metrics_s, qa_s, generate_s where the fake set records it, workers).
    """
    gen_before = getattr(fake, "generate_s", 0.0)
    weights = Path(settings.inception_weights) if settings.inception_weights else None
    qa_on = settings.qa and backends.scan_image_set is not None and backends.compare_scans is not None
    cached_path = None
    if qa_on and real_scan is None and cache_dir is not None and backends.qa_config is not None:
        cached_path = qa_cache_path(cache_dir, real, backends.qa_config)
        real_scan = load_qa_scan(cached_path, name=real.name, n_images=len(real))
    real, fake = pool_set(real, pool), pool_set(fake, pool)
    qa_config = backends.qa_config if qa_on else None
    t0 = time.perf_counter()
    with _sharded_work((real, fake), backends, metrics=metrics, inception_weights=weights, qa=False), \
            _pooled_work(real, backends, settings, metrics, weights, qa=None if real_scan is not None else qa_config), \
            _pooled_work(fake, backends, settings, metrics, weights, qa=qa_config):
        suite = backends.compute_suite(real, fake, metrics=list(metrics), seed=settings.seed, cache_dir=cache_dir,
                                       inception_weights=weights, device=settings.device,
                                       batch_size=settings.batch_size, n_bootstrap=settings.n_bootstrap,
                                       progress=progress).to_json()
    t1 = time.perf_counter()
    gen_in_suite = getattr(fake, "generate_s", 0.0) - gen_before
    qa, qa_s = None, 0.0
    unavailable = dict(suite.get("unavailable") or {})
    if qa_on:
        assert backends.scan_image_set is not None and backends.compare_scans is not None
        fresh_real = real_scan is None
        with _sharded_work((real, fake), backends, metrics=(), inception_weights=None, qa=True), \
                _pooled_work(real, backends, settings, (), None, qa=qa_config, features=False), \
                _pooled_work(fake, backends, settings, (), None, qa=qa_config, features=False):
            if real_scan is None:
                real_scan = collected_scan(real, qa_config) or backends.scan_image_set(real, progress=progress)
            fake_scan = collected_scan(fake, qa_config) or backends.scan_image_set(fake, progress=progress)
        if fresh_real and cached_path is not None:
            save_qa_scan(cached_path, real_scan)
        qa = backends.compare_scans(real_scan, fake_scan, cache_dir=cache_dir)
        qa_s = time.perf_counter() - t1
    elif settings.qa:
        unavailable["qa"] = "the QA module is not installed"
    gen_total = getattr(fake, "generate_s", 0.0) - gen_before
    timing = {"generate_s": round(gen_total, 3), "metrics_s": round(t1 - t0 - gen_in_suite, 3),
              "qa_s": round(max(qa_s - (gen_total - gen_in_suite), 0.0), 3),
              "workers": pool.workers if pool is not None else 1}
    scale = scale_of(suite.get("settings") or {}, size=(int(fake.size[0]), int(fake.size[1])), n_real=len(real),
                     n_fake=len(fake), qa=backends.qa_config if qa_on else None)
    return {"metrics": suite.get("views", {}), "unavailable": unavailable,
            "memorization": suite.get("memorization", {}), "qa": qa, "scale": scale, "timing": timing}, real_scan


def _pooled_work(images: ImageSet, backends: ScoreBackends, settings: ScoreSettings, metrics: Sequence[str],
                 inception_weights: Path | None, *, qa: Any, features: bool = True) -> ExitStack:
    """Return a context in which a pooled set's workers do the per-image work of the next passes
    (nothing for other sets): the QA rows with `qa` and, when `features`, the suite's features where that pays."""
    stack = ExitStack()
    if not isinstance(images, PooledImageSet):
        return stack
    specs: tuple[Any, ...] = ()
    if features and backends.extractor_specs is not None:
        specs = tuple(backends.extractor_specs(metrics, inception_weights=inception_weights))
    regions = radiomics_regions(metrics) if features else ()
    stack.enter_context(images.doing(suite_work(specs, device=settings.device, qa=qa, radiomics=regions)))
    return stack


def _sharded_work(sets: Sequence[ImageSet], backends: ScoreBackends, *, metrics: Sequence[str],
                  inception_weights: Path | None, qa: bool) -> ExitStack:
    """Return a context in which the other torchrun ranks compute the per-image work of the next passes
    over those of `sets` that are sharded: the suite's features (qa=False) or the QA rows (qa=True)."""
    stack = ExitStack()
    sharded = [x for x in sets if isinstance(x, (ShardedGeneratedImageSet, ShardedFileImageSet))]
    if not sharded:
        return stack
    if qa:
        work = ShardWork(qa=backends.qa_config)
    else:
        specs = backends.extractor_specs(metrics, inception_weights=inception_weights) if backends.extractor_specs else ()
        work = ShardWork(extractors=tuple(specs), radiomics=radiomics_regions(metrics))
    for x in sharded:
        stack.enter_context(x.doing(work))
    return stack


def score_checkpoint(ref: CheckpointRef, *, real: _RealSide, settings: ScoreSettings, backends: ScoreBackends,
                     metrics: Sequence[str], real_hash: str, cache_dir: Path, progress: bool,
                     env: DistEnv | None = None, pool: WorkerPool | None = None) -> dict[str, Any] | None:
    """Return the scores.jsonl row of one checkpoint, or None when its resolution is below `min_side`.

    Under torchrun (`env.distributed`, called on rank 0) the images, their features and their QA
    rows are computed by all ranks (see `mammoeval.score.distributed`); the row is the same as in a
    single process. `pool`: worker processes for the per-image work (see `score_images`).
    """
    t0 = time.perf_counter()
    sampler = _load_sampler(backends, ref, settings.device)
    resolution = (int(sampler.resolution[0]), int(sampler.resolution[1]))
    if min(resolution) < settings.min_side:
        return None
    real_at = real.at(resolution)  # type: ignore[arg-type]
    ckpt_hash = sha256_file(ref.path)
    kwargs: dict[str, Any] = dict(n_per_view=settings.n_per_view, seed=settings.seed, source_hash=ckpt_hash,
                                  name=ref.name, device=settings.device, cache_max_bytes=settings.cache_max_mb << 20)
    with ExitStack() as stack:
        if env is not None and env.distributed:
            stack.enter_context(sharded_generation(env, ref.path))
            sharded = ShardedGeneratedImageSet(sampler, env=env, **kwargs)
            stack.callback(sharded.close)
            fake: ImageSet = sharded
            files_sharded = ShardedFileImageSet(real_at, env=env, path=real.path,
                                               reduction=real.base.size[0] // resolution[0])
            stack.callback(files_sharded.close)
            real_at = files_sharded
        else:
            fake = GeneratedImageSet(sampler, **kwargs)
        measured, scan = score_images(real_at, fake, settings=settings, backends=backends, metrics=metrics,
                                      cache_dir=cache_dir, progress=progress, real_scan=real.scans.get(resolution),
                                      pool=pool)
    if scan is not None:
        real.scans[resolution] = scan  # type: ignore[index]
    measured["timing"]["total_s"] = round(time.perf_counter() - t0, 3)
    return {"checkpoint": ref.name, "n_images_shown": ref.n_images_shown, "kimg": ref.kimg,
            "resolution": list(resolution), "n_per_view": settings.n_per_view, "seed": settings.seed,
            **measured, "checkpoint_sha256": ckpt_hash,
            "settings": settings.to_json(metrics=metrics, real_hash=real_hash),
            "versions": library_versions(), "scored_at": utc_now()}


def _row_key(row: dict[str, Any]) -> tuple[str, str]:
    return str(row.get("checkpoint")), str((row.get("settings") or {}).get("settings_hash"))


def score_run(run_dir: str | Path, *, settings: ScoreSettings = ScoreSettings(), last: int | None = None,
              every: int | None = None, select: str = "swd", progress: bool = True,
              backends: ScoreBackends | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> RunScoreResult:
    """Score the run's unscored checkpoints, append their rows, rewrite best.json; return what was done.

    Args:
        run_dir: a run directory (config.json, checkpoints/).
        settings: what to generate and measure.
        last, every: which checkpoints (see `pick_checkpoints`).
        select: selection rule for best.json (see `mammoeval.score.selection`).
        progress: print per-checkpoint lines and let the suite and QA show progress bars.
        backends: upstream functions (None = the real ones).
        on_row: called with each new row right after it is appended (rank 0 only).

    Under torchrun (WORLD_SIZE > 1) every rank calls this: generation, feature extraction and the
    per-image QA are sharded across ranks (`mammoeval.score.distributed`), rank 0 gathers them,
    computes every statistic and writes every file, and the other ranks
    return rank 0's result (or raise `RankZeroError` with its message). The rows are identical to
    single-process scoring.

    Raises:
        BadInputError: not a run dir, no checkpoints, missing real dataset, unreadable checkpoint.
        ConfigError: bad --last/--every or selection rule.
    """
    return run_on_ranks(settings, backends, lambda b, env: _score_run_main(
        run_dir, settings=settings, last=last, every=every, select=select, progress=progress, backends=b,
        on_row=on_row, env=env))


def run_on_ranks(settings: ScoreSettings, backends: ScoreBackends | None,
                 main: Callable[[ScoreBackends, Any], Any]) -> Any:
    """Return `main(backends, env)` computed on rank 0; other ranks serve generation and return the same.

    Outside torchrun this is just `main`. Under torchrun, ranks other than 0 generate their share of
    each pass for rank 0 with its per-image work (`mammoeval.score.distributed`), and rank 0's result
    or one-line error is
    handed to every rank.
    """
    env = score_env(settings.device)
    try:
        b = backends or default_backends()
        if env.distributed and not env.is_main:
            return serve_generation(env, b.load_generator, n_per_view=settings.n_per_view, seed=settings.seed,
                                    open_real=b.open_real)
        try:
            result = main(b, env)
        except BaseException as exc:
            if env.distributed:
                finish(env, error=exc)
            raise
        if env.distributed:
            finish(env, result)
        return result
    finally:
        shutdown(env)


def _score_run_main(run_dir: str | Path, *, settings: ScoreSettings, last: int | None, every: int | None,
                    select: str, progress: bool, backends: ScoreBackends,
                    on_row: Callable[[dict[str, Any]], None] | None, env: DistEnv) -> RunScoreResult:
    """Return `score_run`'s result, computed (and written) by this process, rank 0 under torchrun."""
    run = Path(run_dir)
    config = read_config(run)
    refs = pick_checkpoints(list_checkpoints(run), last=last, every=every)
    if not refs:
        raise BadInputError(run / CHECKPOINT_DIR, "holds no checkpoints (ckpt-NNNNNNNNNN.pt) to score")
    b = backends
    dataset = resolve_dataset_path(run, config)
    real = _RealSide(b.open_real(dataset), dataset)
    metrics = tuple(settings.metrics) if settings.metrics is not None else b.default_metrics
    real_hash = real.base.content_hash
    current = settings.settings_hash(metrics=metrics, real_hash=real_hash)
    scores_path = run / SCORES_FILE
    repair_tail(scores_path)
    done = {_row_key(r) for r in read_score_rows(scores_path, missing_ok=True)}
    todo = [r for r in refs if (r.name, current) not in done]
    new_rows, too_small, failed = [], [], []
    pool = open_pool(settings, env)
    for i, ref in enumerate(todo):
        if progress:
            _say(f"[bold]scoring {ref.name}[/] ({i + 1}/{len(todo)}, {ref.kimg:g} kimg)")
        try:
            row = score_checkpoint(ref, real=real, settings=settings, backends=b, metrics=metrics,
                                   real_hash=real_hash, cache_dir=run / CACHE_DIR, progress=progress, env=env,
                                   pool=pool)
        except UnloadableCheckpointError as e:
            failed.append((ref.name, e.reason))
            _record_failure(run, ref, e.reason, current)
            continue
        if row is None:
            too_small.append(ref.name)
            continue
        append_jsonl(scores_path, row)
        new_rows.append(row)
        if on_row is not None:
            on_row(row)
    if pool is not None:
        pool.close()
    rows = [r for r in read_score_rows(scores_path, missing_ok=True) if _row_key(r)[1] == current]
    best = select_checkpoint(rows, rule=select) if rows else None
    if best is not None:
        best["settings_hash"] = current
        write_json_atomic(run / BEST_FILE, best)
    elif failed:
        name, reason = failed[0]
        raise BadInputError(run / CHECKPOINT_DIR / name, f"{reason} (no checkpoint could be scored; "
                                                         f"{len(failed)} failed, see {run / SCORE_SKIPS_FILE})")
    return RunScoreResult(new_rows=new_rows, rows=rows, already_scored=[r.name for r in refs if r not in todo],
                          too_small=too_small, best=best, failed=failed)


class UnloadableCheckpointError(BadInputError):
    """A checkpoint file cannot be loaded for scoring (the call goes on with the others)."""


def _load_sampler(backends: ScoreBackends, ref: CheckpointRef, device: str) -> Sampler:
    """Return the checkpoint's sampler.

    Raises:
        UnloadableCheckpointError: the file is truncated, foreign or holds non-finite weights.
    """
    try:
        return backends.load_generator(ref.path, device=device)
    except BadInputError as e:
        raise UnloadableCheckpointError(ref.path, e.reason) from None


def _record_failure(run: Path, ref: CheckpointRef, reason: str, settings_hash: str) -> None:
    """Append why a checkpoint was not scored to RUN/scores-skipped.jsonl and say it in one line."""
    append_jsonl(run / SCORE_SKIPS_FILE, {"checkpoint": ref.name, "reason": reason, "settings_hash": settings_hash,
                                      "at": utc_now()})
    warnings.warn(f"{ref.path}: not scored ({reason})", RuntimeWarning, stacklevel=2)


def open_pool(settings: ScoreSettings, env: Any = None) -> WorkerPool | None:
    """Return the worker pool for `settings.workers` (one worker: work in this process, as a worker
    does it), or None under torchrun, where the ranks share the per-image work instead. Its processes
    start on first use and stop when it is closed (or, after an error, garbage-collected)."""
    if env is not None and getattr(env, "distributed", False):
        return None
    return WorkerPool(settings.workers, preload=POOL_PRELOAD)


def _say(text: str) -> None:
    Console(stderr=True).print(text)
