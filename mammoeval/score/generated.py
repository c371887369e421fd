"""Image sets the scorer builds: images generated on the fly from a checkpoint, and a real set
seen at a generator's (lower) resolution.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Protocol

import torch

from mammoeval.core.fsutil import sha256_strings
from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.core.views import label_to_view
from mammoeval.data.imageset import ImageBatch, ImageSet


class Sampler(Protocol):
    """What the scorer needs of a loaded generator (`mammoeval_train.generate.LoadedGenerator`)."""

    @property
    def n_images_shown(self) -> int: ...

    @property
    def resolution(self) -> tuple[int, int]: ...

    def generate(self, seeds: Sequence[int], views: torch.Tensor, *, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> torch.Tensor: ...


class GeneratedImageSet:
    """`ImageSet` of `n_per_view` CC then `n_per_view` MLO images generated batch by batch.

    Image i comes from latent seed `seed + i` with view 0 (CC) for i < n_per_view, else 1 (MLO);
    its id is e.g. "CC-000003". Nothing is held in memory unless the whole set fits in
    `cache_max_bytes`: then the first full pass is kept and later passes (the QA scan after the
    metrics) reuse it. `generate_s` accumulates the seconds spent generating.
    """

    def __init__(self, sampler: Sampler, *, n_per_view: int, seed: int, source_hash: str, name: str,
                 device: str | torch.device = "cpu", cache_max_bytes: int = 0) -> None:
        self._sampler = sampler
        self.n_per_view = n_per_view
        self.seed = seed
        self.name = name
        self._device = device
        self._source_hash = source_hash
        self._views = torch.cat([torch.zeros(n_per_view, dtype=torch.int64),
                                 torch.ones(n_per_view, dtype=torch.int64)])
        h, w = sampler.resolution
        self._cacheable = 2 * n_per_view * h * w * 4 <= cache_max_bytes
        self._cache: list[ImageBatch] | None = None
        self._cache_batch_size = 0
        self.generate_s = 0.0

    def __len__(self) -> int:
        return 2 * self.n_per_view

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self._sampler.resolution)  # type: ignore[return-value]

    @property
    def content_hash(self) -> str:
        return sha256_strings([self._source_hash, f"seed={self.seed}", f"n_per_view={self.n_per_view}"])

    def view_labels(self) -> torch.Tensor:
        return self._views

    def _ids(self, start: int, stop: int) -> list[str]:
        return [f"{label_to_view(int(self._views[i]))}-{i % self.n_per_view:06d}" for i in range(start, stop)]

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        """Yield the generated images `batch_size` at a time, box-reduced by `reduction`."""
        if self._cache is not None and self._cache_batch_size == batch_size:
            for b in self._cache:
                yield _reduce(b, reduction)
            return
        kept: list[ImageBatch] = []
        for batch in self._generated_batches(batch_size):
            if self._cacheable:
                kept.append(batch)
            yield _reduce(batch, reduction)
        if self._cacheable:
            self._cache, self._cache_batch_size = kept, batch_size

    def _generated_batches(self, batch_size: int) -> Iterator[ImageBatch]:
        """Yield one full pass of freshly generated batches, full resolution, in image order."""
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            t0 = time.perf_counter()
            batch = self.generate_batch(start, stop, batch_size)
            self.generate_s += time.perf_counter() - t0
            yield batch

    def generate_batch(self, start: int, stop: int, batch_size: int) -> ImageBatch:
        """Return images start..stop-1 as a batch (float32 [stop-start,1,H,W] in [0,1] on the CPU, views, ids)."""
        images = self.generate_range(start, stop, batch_size).float().cpu()
        return ImageBatch(images, self._views[start:stop], self._ids(start, stop))

    def generate_range(self, start: int, stop: int, batch_size: int) -> torch.Tensor:
        """Return images start..stop-1 (float [stop-start,1,H,W] in [0,1], on the sampler's device)."""
        return self._sampler.generate(list(range(self.seed + start, self.seed + stop)),
                                      self._views[start:stop], batch_size=batch_size, device=self._device)


class ReducedImageSet:
    """`ImageSet` over another set seen `reduction` times smaller (box filter, power of two)."""

    def __init__(self, base: ImageSet, reduction: int) -> None:
        self._base = base
        self.reduction = reduction
        self.name = f"{base.name}@1/{reduction}"

    def __len__(self) -> int:
        return len(self._base)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self._base.size
        return h // self.reduction, w // self.reduction

    @property
    def content_hash(self) -> str:
        return sha256_strings([self._base.content_hash, f"reduction={self.reduction}"])

    def view_labels(self) -> torch.Tensor:
        return self._base.view_labels()

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        yield from self._base.iter_batches(batch_size, reduction=self.reduction * reduction)


def _reduce(batch: ImageBatch, reduction: int) -> ImageBatch:
    if reduction == 1:
        return batch
    return ImageBatch(box_reduce_tensor(batch.images, reduction), batch.views, batch.ids)  # drops precomputed
