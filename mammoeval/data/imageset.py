"""One interface over every set of images that gets scored: prepared datasets, plain folders of
images from any generator, and images generated in memory.

Contract consumed by metrics, QA and the scorer: an `ImageSet` streams `ImageBatch`es of float32
``[N, 1, H, W]`` images in [0, 1] with view labels (0 CC, 1 MLO, -1 unknown), never holding the
whole set in memory, and names its content by a hash so that statistics can be cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from mammoeval.core.fsutil import sha256_strings
from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.data.dataset import PreparedDataset


@dataclass(frozen=True)
class ImageBatch:
    """A batch of grey images with their view labels and identifiers.

    Attributes:
        images: float32 [N, 1, H, W] in [0, 1].
        views: int64 [N]: 0 CC, 1 MLO, -1 unknown.
        ids: N identifiers (file stem or generated index), for galleries and nearest-neighbour pairs.
        precomputed: per-image results of pure functions of these exact pixels, computed where the
            batch was made (e.g. by another torchrun rank, see mammoeval.score.distributed): key ->
            tensor [N, ...] or sequence of N items, in image order. Consumers that find their key use
            it instead of recomputing (keys: `mammoeval.metrics.features.feature_key`,
            `mammoeval.qa.scan.qa_rows_key`); empty by default. Transforms that change the pixels
            (e.g. a reduction) must drop it.
    """

    images: torch.Tensor
    views: torch.Tensor
    ids: list[str]
    precomputed: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(f"images must be [N, 1, H, W], got {tuple(self.images.shape)}")
        if self.views.shape != (self.images.shape[0],) or len(self.ids) != self.images.shape[0]:
            raise ValueError("views and ids must have one entry per image")
        if any(len(v) != self.images.shape[0] for v in self.precomputed.values()):
            raise ValueError("every precomputed entry must have one item per image")

    def select_view(self, label: int) -> ImageBatch:
        """Return the sub-batch of images with view `label` (precomputed entries subset alike)."""
        keep = self.views == label
        idx = keep.nonzero().flatten().tolist()
        pre = {k: v[keep] if isinstance(v, torch.Tensor) else [v[i] for i in idx]
               for k, v in self.precomputed.items()}
        return ImageBatch(self.images[keep], self.views[keep], [self.ids[i] for i in idx], pre)


@runtime_checkable
class ImageSet(Protocol):
    """A finite, re-iterable set of grey images at one size."""

    name: str

    def __len__(self) -> int: ...

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of every image yielded."""
        ...

    @property
    def content_hash(self) -> str:
        """Hash that changes whenever the images or labels change (cache key)."""
        ...

    def view_labels(self) -> torch.Tensor:
        """int64 [N] view labels in iteration order."""
        ...

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        """Yield the images in a fixed order, `batch_size` at a time, box-reduced by `reduction`."""
        ...


class ForwardingImageSet:
    """Base of an `ImageSet` that wraps another: name, length, size, content hash and view labels are
    the base set's; subclasses define `iter_batches` (what they add to the base set's batches)."""

    def __init__(self, base: ImageSet) -> None:
        self._base = base
        self.name = base.name

    def __len__(self) -> int:
        return len(self._base)

    @property
    def size(self) -> tuple[int, int]:
        return self._base.size

    @property
    def content_hash(self) -> str:
        return self._base.content_hash

    def view_labels(self) -> torch.Tensor:
        return self._base.view_labels()


class PreparedImageSet:
    """`ImageSet` over a prepared dataset directory (any view unless `views` restricts it)."""

    def __init__(self, root: str | Path, *, views: Sequence[str] | None = None, split: str | None = None,
                 num_workers: int = 0) -> None:
        self._ds = PreparedDataset(root, views=views, split=split)
        self.name = Path(root).name
        self.num_workers = num_workers
        self._split = split
        self._views = views

    def __len__(self) -> int:
        return len(self._ds)

    @property
    def size(self) -> tuple[int, int]:
        return self._ds.size

    @property
    def content_hash(self) -> str:
        return sha256_strings([self._ds.info.content_hash, f"views={self._views}", f"split={self._split}"])

    def view_labels(self) -> torch.Tensor:
        return self._ds.view_labels

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        ds = self._ds if reduction == 1 else PreparedDataset(self._ds.root, reduction=reduction,
                                                             views=self._views, split=self._split)
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False,
                                             num_workers=self.num_workers)
        start = 0
        for images, views in loader:
            ids = [r.id for r in ds.records[start:start + len(views)]]
            start += len(views)
            yield ImageBatch(images, views.to(torch.int64), ids)


class TensorImageSet:
    """`ImageSet` over images already in memory (small sets, tests, generated batches)."""

    def __init__(self, images: torch.Tensor, views: torch.Tensor, *, name: str = "tensors",
                 ids: Sequence[str] | None = None) -> None:
        ImageBatch(images, views, list(ids) if ids is not None else [str(i) for i in range(len(images))])
        self.images = images
        self.views = views.to(torch.int64)
        self.ids = list(ids) if ids is not None else [f"{i:06d}" for i in range(len(images))]
        self.name = name

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.images.shape[2]), int(self.images.shape[3]))

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256(self.images.detach().cpu().contiguous().numpy().tobytes())
        h.update(self.views.cpu().numpy().tobytes())
        return h.hexdigest()

    def view_labels(self) -> torch.Tensor:
        return self.views

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        for s in range(0, len(self), batch_size):
            imgs = box_reduce_tensor(self.images[s:s + batch_size], reduction)
            yield ImageBatch(imgs, self.views[s:s + batch_size], self.ids[s:s + batch_size])
