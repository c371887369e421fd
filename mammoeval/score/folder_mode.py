"""Scoring two image folders (images from any generator): one score row, written to scores.json.

The row has the scores.jsonl shape with ``checkpoint = "folder:<fake folder name>"``, no
`n_images_shown`/`kimg`, `n_per_view` = the fake images per view, and the fake folder's content
hash in place of the checkpoint hash, so `mammoeval gate` and `mammoeval report` read it as they
read a run's rows.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from mammoeval.core.fsutil import write_json_atomic
from mammoeval.data.open import open_image_set
from mammoeval.data.prepared import is_prepared_dataset
from mammoeval.score.distributed import ShardedFileImageSet
from mammoeval.score.generated import ReducedImageSet
from mammoeval.score.run import (
    ScoreBackends,
    library_versions,
    open_pool,
    real_reduction,
    run_on_ranks,
    score_images,
    utc_now,
)
from mammoeval.score.settings import ScoreSettings

FOLDER_SCORES_FILE = "scores.json"


def folder_scores_path(out: str | Path) -> Path:
    """Return where folder-mode scores go: `out` itself when it ends in .json, else out/scores.json."""
    p = Path(out)
    return p if p.suffix == ".json" else p / FOLDER_SCORES_FILE


def score_folders(real: str | Path, fake: str | Path, *, settings: ScoreSettings = ScoreSettings(),
                  out: str | Path | None = None, size: tuple[int, int] | None = None,
                  cache_dir: str | Path | None = None, progress: bool = True,
                  backends: ScoreBackends | None = None) -> dict[str, Any]:
    """Return the score row of a fake image folder against a real one; write it when `out` is given.

    Args:
        real: prepared dataset or plain image folder of real mammograms (the reference).
        fake: prepared dataset or plain image folder of generated images; fitted to the real size.
        settings: metric settings (`n_per_view` is ignored: every fake image is used).
        out: a .json file or a folder (then folder/scores.json); None = do not write.
        size: (height, width) a plain real folder is fitted to (None = the generated images' size;
            real images smaller than it in both dimensions are an error, never enlarged).
        cache_dir: where real-set statistics are cached (None = no cache).
        progress: show the suite's and QA's progress bars.
        backends: upstream functions (None = the real ones).

    Under torchrun (WORLD_SIZE > 1) rank 0 scores and writes; the other ranks read both sets too
    and compute the features and QA rows of their share of the batches (see
    `mammoeval.score.distributed`; the row is the same as in one process), then return rank 0's
    row, or raise `RankZeroError` with its message. Both folders must be readable on every rank.

    Raises:
        BadInputError: a missing folder or one without readable images.
    """
    return run_on_ranks(settings, backends, lambda b, env: _score_folders_here(
        real, fake, settings=settings, out=out, size=size, cache_dir=cache_dir, progress=progress, backends=b,
        env=env))


def _score_folders_here(real: str | Path, fake: str | Path, *, settings: ScoreSettings, out: str | Path | None,
                        size: tuple[int, int] | None, cache_dir: str | Path | None, progress: bool,
                        backends: ScoreBackends, env: Any = None) -> dict[str, Any]:
    """Return `score_folders`' row, computed (and written) by this process (rank 0 under torchrun)."""
    b = backends
    t0 = time.perf_counter()
    fake_set = None
    if size is None and Path(real).is_dir() and not is_prepared_dataset(Path(real)):
        # A plain real folder (often of mixed sizes) is fitted to the generated images' one size.
        fake_set = _open(fake, None)
        size = fake_set.size
    real_set = _open(real, size)
    real_size = real_set.size
    if fake_set is None:
        fake_set = _open(fake, real_size)
    reduction = 1
    if fake_set.size != real_set.size:  # e.g. a prepared fake set at a lower resolution
        reduction = real_reduction(real_set.size, fake_set.size, Path(fake))
        real_set = ReducedImageSet(real_set, reduction)
    if env is not None and env.distributed:  # the other ranks open both sets the same way
        real_set = ShardedFileImageSet(real_set, env=env, path=Path(real), reduction=reduction, size=size)
        fake_set = ShardedFileImageSet(fake_set, env=env, path=Path(fake), reduction=1, size=real_size)
    metrics = tuple(settings.metrics) if settings.metrics is not None else b.default_metrics
    with ExitStack() as stack:
        for x in (real_set, fake_set):
            if hasattr(x, "close"):  # a sharded set: finish a pass an error interrupted
                stack.callback(x.close)
        pool = open_pool(settings, env)
        if pool is not None:
            stack.enter_context(pool)
        measured, _ = score_images(real_set, fake_set, settings=settings, backends=b, metrics=metrics,
                                   cache_dir=Path(cache_dir) if cache_dir is not None else None, progress=progress,
                                   pool=pool)
    measured["timing"]["total_s"] = round(time.perf_counter() - t0, 3)
    views = fake_set.view_labels()
    per_view = {"CC": int((views == 0).sum()), "MLO": int((views == 1).sum()), "all": len(fake_set)}
    row = {"checkpoint": f"folder:{Path(fake).name}", "n_images_shown": None, "kimg": None,
           "resolution": list(fake_set.size), "n_per_view": per_view, "seed": settings.seed, **measured,
           "fake_hash": fake_set.content_hash, "real": str(real), "fake": str(fake),
           "settings": settings.to_json(metrics=metrics, real_hash=real_set.content_hash),
           "versions": library_versions(), "scored_at": utc_now()}
    if out is not None:
        write_json_atomic(folder_scores_path(out), row)
    return row


def _open(path: str | Path, size: tuple[int, int] | None) -> Any:
    return open_image_set(path, size=size)
