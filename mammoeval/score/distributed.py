"""Scoring under torchrun: generation and the per-image work sharded across ranks, gathered on rank 0.

Rank 0 runs the whole scoring pass (metric suite, QA, every file write) as a single process
does. The other ranks are servers: rank 0 broadcasts small commands ("open" a checkpoint, start a
generation "pass" with a batch size and the per-image work to do, a "real" pass over a set of
files, "close" the checkpoint, and at the end "done" with the result or "fail" with the error).

Generated images. Batch b of each pass (images b*batch_size .. (b+1)*batch_size-1) is generated
by rank b % world_size on its own device; rank 0 generates and processes its own share and
receives the others' batches in order, so it sees the same batches in the same order as a
single process. Generated images are not kept between the suite pass and the QA pass: the QA
pass is generated again (sharded as well), so that its per-image work is sharded too.

Sets of files (the real dataset; both folders in folder scoring). In a pass with per-image work,
every rank opens the set the same way (`ShardedFileImageSet`: the path, size and reduction
travel in the command; the files must be readable on every rank) and reads the same batches;
rank b % world_size computes the work of batch b and sends only the results, rank 0 reads the
pixels itself. Such passes are the suite's real pass when a metric's real statistics are not
cached yet, the real QA scan (once per call and resolution), and in folder scoring the
generated folder's suite and QA passes.

What is sharded. Per pass, rank 0 names the per-image work (`ShardWork`) its consumer needs:

- the metric-suite pass: the feature vectors of every extractor the suite uses (the offline 70-d
  space, and Inception when its weights are found; `mammoeval.metrics.suite.suite_extractor_specs`).
  Each rank builds the extractors from the same spec (the weights path travels with it, and a
  rank whose file has another SHA-256 fails);
- the QA pass: the `check_image` rows of `mammoeval.qa.scan` (the largest CPU cost).

A server computes that work on its batch and sends the results (`ImageBatch.precomputed`, a
pickled dict; for generated batches after the images, a tensor). On rank 0,
`MemoExtractor.prime` hands the shipped features to the feature and memorization metrics and
`scan_image_set` takes the shipped rows, instead of computing them. What stays on rank 0: SWD,
MS-SSIM, the memorization pixel search, and every reduction (statistics, floors, intervals).

Results equal single-process scoring: every batch has the same images, views and batch size,
and the per-image work is a pure function of the batch's pixels run by the same code. On CPU
they are identical to the byte (the 2-rank test compares the rows as JSON); across GPUs they are
equal to float tolerance (another device's kernels may round differently). Memory stays
bounded: a server holds one batch and its results at a time (its send waits for rank 0's
receive), and rank 0 holds one batch at a time.

If a server fails (e.g. cannot load a checkpoint, the real dataset or the weights on its
device), rank 0 waits on its receive; torchrun then stops the whole job, as it does whenever a
rank dies.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from mammoeval.core.ddp import DistEnv, init_from_env, shutdown
from mammoeval.core.errors import MammoevalError
from mammoeval.data.imageset import ForwardingImageSet, ImageBatch, ImageSet, TensorImageSet
from mammoeval.data.open import open_image_set
from mammoeval.metrics.features import FeatureExtractor, feature_key
from mammoeval.metrics.frd import FRDRegion, radiomics_key, radiomics_rows
from mammoeval.metrics.regions import compute_breast_masks
from mammoeval.metrics.suite import ExtractorSpec, build_extractor
from mammoeval.qa.breast_mask import compute_breast_mask
from mammoeval.qa.scan import QAConfig, qa_rows_key, scan_image_set
from mammoeval.score.generated import GeneratedImageSet, ReducedImageSet, Sampler

__all__ = ["DistEnv", "RankZeroError", "ShardWork", "ShardedGeneratedImageSet", "ShardedFileImageSet", "Worker",
           "compute_shard_work", "finish", "is_rank_zero", "score_env", "serve_generation", "sharded_generation",
           "shutdown"]


class RankZeroError(MammoevalError):
    """Raised on the other ranks when rank 0 failed, with rank 0's one-line message."""


def score_env(device: str) -> DistEnv:
    """Return this process's place in the job (alone: rank 0 of 1).

    Uses an already initialised process group (e.g. a test's), else torchrun's RANK/WORLD_SIZE/
    LOCAL_RANK (creating the group when WORLD_SIZE > 1; gloo on CPU, NCCL on CUDA).

    Args:
        device: the scoring device ("cpu", "cuda", "cuda:1", "auto"); ranks other than 0 generate
            on cuda:LOCAL_RANK when it names CUDA, else on the CPU.
    """
    return init_from_env("cpu" if device == "cpu" else ("auto" if device == "auto" else "cuda"))


def is_rank_zero() -> bool:
    """Return True unless torchrun's RANK names another rank (the CLI prints on rank 0 only)."""
    return os.environ.get("RANK", "0") == "0"


def _comm_device(env: DistEnv) -> torch.device:
    """Return where tensors must be to be sent (the rank's GPU under NCCL, else the CPU)."""
    return env.device if dist.get_backend() == "nccl" else torch.device("cpu")


def _command(env: DistEnv, cmd: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
    """Return the command rank 0 broadcasts (rank 0 passes it, the others receive it)."""
    box = [cmd if env.is_main else None]
    dist.broadcast_object_list(box, src=0, device=_comm_device(env))
    return box[0]  # type: ignore[return-value]


@dataclass(frozen=True)
class ShardWork:
    """The per-image work a generating rank does on each batch of a pass and ships with it.

    Attributes:
        extractors: feature extractors to apply (results under `feature_key(extractor)`).
        qa: QA settings to check every image with (rows under `qa_rows_key(qa)`); None = no QA.
        radiomics: regions to extract FRD's radiomics features of (rows under `radiomics_key(region)`;
            the breast region from QA's breast mask, as the scorer gives FRD).
    """

    extractors: tuple[ExtractorSpec, ...] = ()
    qa: QAConfig | None = None
    radiomics: tuple[FRDRegion, ...] = ()


class Worker:
    """Computes `ShardWork` on batches (of this rank, or of a pool worker process); extractors are built once per spec."""

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._extractors: dict[Any, FeatureExtractor] = {}

    def compute(self, batch: ImageBatch, work: ShardWork) -> dict[str, Any]:
        """Return `batch`'s precomputed results for `work` (key -> [N, ...] tensor or N rows)."""
        out: dict[str, Any] = {}
        for spec in work.extractors:
            if spec not in self._extractors:
                self._extractors[spec] = build_extractor(spec, device=self._device)
            ex = self._extractors[spec]
            out[feature_key(ex)] = ex.extract(batch.images).float().cpu()
        if work.qa is not None:
            n = batch.images.shape[0]
            scan = scan_image_set(TensorImageSet(batch.images, batch.views, ids=batch.ids), progress=False,
                                  batch_size=n, config=work.qa)
            out[qa_rows_key(work.qa)] = scan.rows
        for region in work.radiomics:
            masks = compute_breast_masks(batch.images, compute_breast_mask) if region == "breast" else None
            out[radiomics_key(region)] = radiomics_rows(batch.images, masks)
        return out


def compute_shard_work(batch: ImageBatch, work: ShardWork, *, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Return what a server ships with `batch` for `work` (key -> [N, ...] tensor or N QA rows)."""
    return Worker(torch.device(device)).compute(batch, work)


class _ShardedPasses:
    """What both sharded sets share: the work the other ranks do per batch, and the pass in progress."""

    work: ShardWork
    _active: Generator[ImageBatch, None, None] | None

    @contextmanager
    def doing(self, work: ShardWork) -> Iterator[None]:
        """Have the other ranks do `work` on their batches for the passes inside the block."""
        before, self.work = self.work, work
        try:
            yield
        finally:
            self.work = before

    def close(self) -> None:
        """Finish an unfinished pass (receive and drop the other ranks' remaining batches or results)."""
        if self._active is not None:
            self._active.close()
            self._active = None


class ShardedGeneratedImageSet(_ShardedPasses, GeneratedImageSet):
    """`GeneratedImageSet` on rank 0 whose batches are generated round-robin by all ranks.

    Batch b of a pass comes from rank b % world_size (rank 0 generates its own share); the
    others' batches are received in order, with the results of `work` (set it before a pass) in
    `ImageBatch.precomputed`. Ids, views and `generate_s` (which here includes the wait for other
    ranks and their per-image work) behave as in `GeneratedImageSet`; nothing is cached between
    passes, so that each pass's work is sharded too.
    """

    def __init__(self, sampler: Sampler, *, env: DistEnv, **kwargs: Any) -> None:
        super().__init__(sampler, **kwargs)
        self._env = env
        self._cacheable = False
        self.work = ShardWork()
        self._active: Generator[ImageBatch, None, None] | None = None

    def _generated_batches(self, batch_size: int) -> Iterator[ImageBatch]:
        self.close()
        self._active = self._pass(batch_size)
        return self._active

    def _receive(self, owner: int, n: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Return (images, precomputed) of the next batch sent by `owner`."""
        h, w = self.size
        comm = _comm_device(self._env)
        buf = torch.empty((n, 1, h, w), dtype=torch.float32, device=comm)
        dist.recv(buf, src=owner)
        return buf.cpu(), _receive_results(self._env, owner)

    def _pass(self, batch_size: int) -> Generator[ImageBatch, None, None]:
        _command(self._env, ("pass", batch_size, self.work))
        starts = list(range(0, len(self), batch_size))
        done = 0
        try:
            for b, start in enumerate(starts):
                stop = min(start + batch_size, len(self))
                owner = b % self._env.world_size
                t0 = time.perf_counter()
                if owner == 0:
                    batch = self.generate_batch(start, stop, batch_size)
                else:
                    images, pre = self._receive(owner, stop - start)
                    batch = ImageBatch(images, self._views[start:stop], self._ids(start, stop), pre)
                done = b + 1
                self.generate_s += time.perf_counter() - t0
                yield batch
        finally:  # a consumer that stops early: drain the servers so they reach the next command
            for b in range(done, len(starts)):
                owner = b % self._env.world_size
                if owner != 0:
                    self._receive(owner, min(starts[b] + batch_size, len(self)) - starts[b])


def _receive_results(env: DistEnv, owner: int) -> dict[str, Any]:
    """Return the per-image results of the next batch `owner` sends."""
    box: list[Any] = [None]
    dist.recv_object_list(box, src=owner, device=_comm_device(env))
    return dict(box[0] or {})


class ShardedFileImageSet(_ShardedPasses, ForwardingImageSet):
    """`ImageSet` on rank 0 over files every rank can open (a real dataset, a folder), whose per-image
    work is sharded.

    In a pass with `work` (set it with `doing`), every rank reads the same batches; rank
    b % world_size computes `work` on batch b and sends only the results (rank 0 reads the pixels
    itself), which rank 0 attaches as `ImageBatch.precomputed`. Without work, or for rank 0's own
    batches, this is the base set unchanged.

    Args:
        base: the set on rank 0 (`open_real(path)`, or `open_image_set(path, size=size)` when `size`
            is given, seen `reduction` times smaller).
        env: this rank's place (rank 0).
        path: the dataset or folder the other ranks open the same way.
        reduction: the power of two `base` is reduced by (1 = none).
        size: (height, width) a plain folder is fitted to (folder scoring); None = `open_real(path)`.
    """

    def __init__(self, base: ImageSet, *, env: DistEnv, path: Path, reduction: int,
                 size: tuple[int, int] | None = None) -> None:
        super().__init__(base)
        self._env = env
        self._source = (str(path), reduction, size)
        self.work = ShardWork()
        self._active: Generator[ImageBatch, None, None] | None = None

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        """Yield the base set's batches, with the other ranks' results for their share."""
        if not self.work.extractors and self.work.qa is None:
            return self._base.iter_batches(batch_size, reduction=reduction)
        self.close()
        self._active = self._pass(batch_size, reduction)
        return self._active

    def _pass(self, batch_size: int, reduction: int) -> Generator[ImageBatch, None, None]:
        _command(self._env, ("real", *self._source, batch_size, reduction, self.work))
        world = self._env.world_size
        n_batches = -(-len(self._base) // batch_size)
        done = 0
        try:
            for b, batch in enumerate(self._base.iter_batches(batch_size, reduction=reduction)):
                if b % world != 0:
                    batch = ImageBatch(batch.images, batch.views, batch.ids, _receive_results(self._env, b % world))
                done = b + 1
                yield batch
        finally:  # a consumer that stops early: drain the servers so they reach the next command
            for b in range(done, n_batches):
                if b % world != 0:
                    _receive_results(self._env, b % world)


@contextmanager
def sharded_generation(env: DistEnv, checkpoint: Path) -> Iterator[None]:
    """Have the other ranks load `checkpoint` for the duration of the block (rank 0 only)."""
    _command(env, ("open", str(checkpoint)))
    try:
        yield
    finally:
        _command(env, ("close",))


def finish(env: DistEnv, result: Any = None, error: BaseException | None = None) -> None:
    """Tell the other ranks rank 0 is done: with its result (they return it) or its error (they raise)."""
    if error is not None:
        _command(env, ("fail", str(error) or type(error).__name__))
    else:
        _command(env, ("done", result))


def serve_generation(env: DistEnv, load_generator: Callable[..., Sampler], *, n_per_view: int, seed: int,
                     open_real: Callable[[Path], ImageSet] | None = None) -> Any:
    """Serve rank 0's generation passes (images and their `ShardWork`) until it is done; return rank 0's result.

    Args:
        env: this rank's place (rank > 0).
        load_generator: `mammoeval_train.generate.load_generator` or a stand-in.
        n_per_view, seed: the generated set's size and first seed (as on rank 0).
        open_real: opens a real dataset as rank 0 does (`ScoreBackends.open_real`); needed when
            rank 0 shards real-set work.

    Raises:
        RankZeroError: rank 0 failed; carries its message.
    """
    fake: GeneratedImageSet | None = None
    comm = _comm_device(env)
    worker = Worker(env.device)
    while True:
        cmd = _command(env)
        if cmd[0] == "open":
            sampler = load_generator(Path(cmd[1]), device=env.device)
            fake = GeneratedImageSet(sampler, n_per_view=n_per_view, seed=seed, source_hash="", name="",
                                     device=env.device)
        elif cmd[0] == "pass" and fake is not None:
            batch_size, work = int(cmd[1]), cmd[2]
            for b, start in enumerate(range(0, len(fake), batch_size)):
                if b % env.world_size == env.rank:
                    batch = fake.generate_batch(start, min(start + batch_size, len(fake)), batch_size)
                    pre = worker.compute(batch, work)
                    dist.send(batch.images.to(comm).contiguous(), dst=0)
                    dist.send_object_list([pre], dst=0, device=comm)
        elif cmd[0] == "real" and open_real is not None:
            _serve_real(env, worker, open_real, *cmd[1:])
        elif cmd[0] == "close":
            fake = None
        elif cmd[0] == "done":
            return cmd[1]
        elif cmd[0] == "fail":
            raise RankZeroError(f"rank 0 failed: {cmd[1]}")
        else:
            raise RankZeroError(f"unexpected scoring command from rank 0: {cmd[0]!r}")


def _serve_real(env: DistEnv, worker: Worker, open_real: Callable[[Path], ImageSet], path: str, reduction: int,
                size: tuple[int, int] | None, batch_size: int, pass_reduction: int, work: ShardWork) -> None:
    """Read rank 0's pass over a set of files too and send the results of `work` on this rank's batches."""
    real = open_real(Path(path)) if size is None else open_image_set(Path(path), size=size)
    if reduction > 1:
        real = ReducedImageSet(real, reduction)
    for b, batch in enumerate(real.iter_batches(batch_size, reduction=pass_reduction)):
        if b % env.world_size == env.rank:
            dist.send_object_list([worker.compute(batch, work)], dst=0, device=_comm_device(env))
