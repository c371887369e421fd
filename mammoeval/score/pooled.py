"""The per-image work of a scoring pass in a pool of worker processes on this machine.

`PooledImageSet` wraps an image set; in a pass with work (set with `doing`, a
`mammoeval.score.distributed.ShardWork`: feature extractors and/or the QA checks), each batch
this process reads or generates is sent to a `mammoeval.core.pool.WorkerPool` worker, which
computes that work on it, and the batch is yielded, in order, with the results in
`ImageBatch.precomputed` (as the other torchrun ranks ship them). The metrics and the QA scan
take them from there instead of computing them: `MemoExtractor.prime` for features,
`scan_image_set` for QA rows. What stays in this process: reading or generating the pixels,
SWD descriptors, MS-SSIM, the memorization pixel search and every reduction.

Results equal one-process scoring: a worker runs the same pure functions on the same batch
(`mammoeval.score.distributed.Worker`; the pool holds each worker to one thread).
Memory: at most `max_in_flight` batches (default workers + 1) are on their way at once.

QA rows of a complete pass are kept (`qa_rows`), so a pass that computed the features and the
QA rows together saves the QA pass over the same images (see `mammoeval.score.run.score_images`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from mammoeval.core.pool import WorkerPool
from mammoeval.data.imageset import ForwardingImageSet, ImageBatch, ImageSet
from mammoeval.qa.scan import QAScan, qa_rows_key
from mammoeval.score.distributed import ShardedFileImageSet, ShardedGeneratedImageSet, ShardWork, Worker

_WORKER: Any = None
"""This worker process's `Worker` (extractors are built once per process), created on first use."""


def _do_work(payload: tuple[np.ndarray, np.ndarray, list[str], ShardWork]) -> dict[str, Any]:
    """Return the results of `work` on one batch (tensors as NumPy arrays); runs in a worker process."""
    global _WORKER

    images, views, ids, work = payload
    if _WORKER is None:
        _WORKER = Worker(torch.device("cpu"))
    out = _WORKER.compute(ImageBatch(torch.from_numpy(images), torch.from_numpy(views), ids), work)
    # NumPy, not tensors: torch would send tensors through shared-memory file descriptors.
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in out.items()}


class PooledImageSet(ForwardingImageSet):
    """`ImageSet` over `base` whose per-image work is done by `pool`'s workers (see the module docstring).

    Args:
        base: the set that reads or generates the pixels (in this process).
        pool: an open pool (one worker: the work runs in this process).
        max_in_flight: batches sent and not yet yielded (None = workers + 1).
    """

    def __init__(self, base: ImageSet, pool: WorkerPool, *, max_in_flight: int | None = None) -> None:
        super().__init__(base)
        self._pool = pool
        self.work = ShardWork()
        self._max_in_flight = max_in_flight if max_in_flight is not None else pool.workers + 1
        self.qa_rows: dict[str, list[Any]] = {}
        """`qa_rows_key(config)` -> the rows of the last complete pass that checked every image with config."""

    @property
    def generate_s(self) -> float:
        """Seconds the base set spent generating (0 for sets of files)."""
        return float(getattr(self._base, "generate_s", 0.0))

    @contextmanager
    def doing(self, work: ShardWork) -> Iterator[None]:
        """Have the workers do `work` on the batches of the passes inside the block."""
        before, self.work = self.work, work
        try:
            yield
        finally:
            self.work = before

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        """Yield the base set's batches, each with the results of the current work."""
        if not self.work.extractors and self.work.qa is None:
            return self._base.iter_batches(batch_size, reduction=reduction)
        return self._pass(batch_size, reduction, self.work)

    def _pass(self, batch_size: int, reduction: int, work: ShardWork) -> Iterator[ImageBatch]:
        sent: deque[ImageBatch] = deque()

        def payloads() -> Iterator[tuple[np.ndarray, np.ndarray, list[str], ShardWork]]:
            for batch in self._base.iter_batches(batch_size, reduction=reduction):
                sent.append(batch)
                yield (batch.images.detach().cpu().numpy(), batch.views.cpu().numpy(), list(batch.ids), work)

        key = qa_rows_key(work.qa) if work.qa is not None else None
        rows: list[Any] = []
        for result in self._pool.map(_do_work, payloads(), max_in_flight=self._max_in_flight):
            batch = sent.popleft()
            pre = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in result.items()}
            if key is not None:
                rows.extend(pre[key])
            yield ImageBatch(batch.images, batch.views, batch.ids, {**batch.precomputed, **pre})
        if key is not None and reduction == 1 and len(rows) == len(self):
            self.qa_rows[key] = rows


def pool_set(images: ImageSet, pool: WorkerPool | None) -> ImageSet:
    """Return `images` wrapped for `pool` (unchanged without a pool, for sharded sets, or when already wrapped).

    A pool of one worker wraps too: the work is then done here, as a worker does it (one thread), so
    the results do not depend on the number of workers.
    """
    if pool is None or isinstance(images, (PooledImageSet, ShardedFileImageSet, ShardedGeneratedImageSet)):
        return images
    return PooledImageSet(images, pool)


def suite_work(extractors: tuple[Any, ...], *, device: str, qa: Any, radiomics: tuple[Any, ...] = ()) -> ShardWork:
    """Return the work the pool does in the metric-suite pass over one set.

    The QA rows (`qa`, a QAConfig or None) are always worth shipping: each image costs far more to
    check than to send. Features are computed by the workers only on the CPU and only where they
    cost more than sending the batch: with the QA (the batch is sent anyway) or with any extractor
    but the offline one (Inception, or any heavier per-image space); the 70-d offline features
    alone cost less than the transfer (measured on 2 shared cores, 1280x1024: 0.07 s of CPU per
    image to extract, 0.24 s of wall time per image to pickle and send its 5 MB), so they stay here.
    On a GPU, features stay on the GPU in this process. FRD's radiomics features (`radiomics`, the
    regions) run on the CPU whatever the device and cost seconds per image: always in the workers.
    """
    on_cpu = str(device) == "cpu"
    ship = on_cpu and (qa is not None or bool(radiomics)
                       or any(getattr(e, "space", "offline") != "offline" for e in extractors))
    return ShardWork(extractors=tuple(extractors) if ship else (), qa=qa, radiomics=tuple(radiomics))


def collected_scan(images: ImageSet, config: Any) -> Any:
    """Return the `QAScan` of the rows a complete pooled pass computed with `config`, or None."""
    rows = images.qa_rows.get(qa_rows_key(config)) if isinstance(images, PooledImageSet) else None
    return None if rows is None else QAScan(list(rows), name=images.name)
