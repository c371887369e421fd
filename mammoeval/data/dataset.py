"""Streaming torch Dataset over a prepared dataset at any power-of-two reduction of its size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.core.views import VIEWS
from mammoeval.data.prepared import (
    LOWRES_FILE,
    DatasetInfo,
    ManifestRecord,
    read_dataset_info,
    read_manifest,
    read_png,
)


class NoImagesError(BadInputError):
    """The dataset holds no image of the requested views and split (the files themselves are fine)."""


class PreparedDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Images of a prepared dataset, read lazily from disk, one item at a time.

    Each item is ``(image, view_label)``: image is float32 ``[1, H / reduction, W / reduction]`` in
    [0, 1] (2x2 box averaging per halving, exact for the power-of-two sizes the trainer uses);
    view_label is 0 (CC) or 1 (MLO), -1 for other views when ``views`` admits them.
    Safe with any number of DataLoader workers: nothing but paths and the info are held, and the
    memory-mapped low-resolution cache is opened lazily in each worker.

    Args:
        root: prepared dataset directory.
        reduction: power of two (1 = full size).
        views: view names to keep; default the trainable views CC and MLO.
        split: keep only rows of this split (None = all).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        reduction: int = 1,
        views: Sequence[str] | None = VIEWS,
        split: str | None = None,
    ) -> None:
        if reduction < 1 or reduction & (reduction - 1):
            raise ValueError(f"reduction must be a power of two >= 1, got {reduction}")
        self.root = Path(root)
        self.info: DatasetInfo = read_dataset_info(self.root)
        if self.info.height % reduction or self.info.width % reduction:
            raise ValueError(f"reduction {reduction} does not divide the size {self.info.height}x{self.info.width}")
        all_records = read_manifest(self.root)
        keep_views = None if views is None else {v.upper() for v in views}
        self._rows: list[int] = [
            i
            for i, r in enumerate(all_records)
            if (keep_views is None or r.view.upper() in keep_views) and (split is None or r.split == split)
        ]
        self.records: list[ManifestRecord] = [all_records[i] for i in self._rows]
        if not self.records:
            raise NoImagesError(self.root, f"no images with views {sorted(keep_views or [])} and split {split!r}")
        self.reduction = reduction
        self._n_manifest = len(all_records)
        self._lowres: np.ndarray | None = None
        if self._uses_lowres():
            self._open_lowres()  # checked here, in the caller's process; workers open their own map


    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the images this dataset yields."""
        return (self.info.height // self.reduction, self.info.width // self.reduction)

    @property
    def view_labels(self) -> torch.Tensor:
        """int64 [N] view labels in item order."""
        return torch.tensor([r.view_label for r in self.records], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rec = self.records[index]
        lr = self.info.lowres_reduction
        if self._uses_lowres():
            img = self._read_lowres(self._rows[index])
            img = _reduce(img, self.reduction // lr)
        else:
            img = _reduce(torch.from_numpy(read_png(self.root / rec.file))[None], self.reduction)
        return img, rec.view_label

    def _uses_lowres(self) -> bool:
        lr = self.info.lowres_reduction
        return bool(lr) and self.reduction >= lr and (self.root / LOWRES_FILE).is_file()

    def _open_lowres(self) -> np.ndarray:
        lr = self.info.lowres_reduction
        return open_lowres(self.root / LOWRES_FILE, n_images=self._n_manifest,
                           size=(self.info.height // lr, self.info.width // lr))

    def _read_lowres(self, row: int) -> torch.Tensor:
        if self._lowres is None:
            self._lowres = self._open_lowres()
        arr = np.asarray(self._lowres[row])
        top = 255.0 if arr.dtype == np.uint8 else 65535.0
        return torch.from_numpy(arr.astype(np.float32) / np.float32(top))[None]


def open_lowres(path: Path, *, n_images: int, size: tuple[int, int]) -> np.ndarray:
    """Return the memory-mapped low-resolution array, checked against the manifest.

    Raises:
        BadInputError: the file is truncated, not a .npy array, or its shape or dtype is not
            (n_images, *size) of uint8 / uint16 (the message names the file and the fix).
    """
    fix = "delete it and rerun `mammoeval data prepare` (or `data phantom`) to rebuild it"
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        text = str(e).strip().splitlines()
        raise BadInputError(path, f"truncated or corrupt low-resolution array ({text[0] if text else type(e).__name__}); "
                                  f"{fix}") from None
    want = (n_images, *size)
    if not isinstance(arr, np.ndarray) or arr.shape != want or arr.dtype not in (np.uint8, np.uint16):
        got = f"{getattr(arr, 'shape', '?')} {getattr(arr, 'dtype', '?')}"
        raise BadInputError(path, f"low-resolution array is {got}, expected {want} uint8/uint16; {fix}")
    return arr


def _reduce(img: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-average a [1, H, W] image by a power-of-two factor."""
    return box_reduce_tensor(img[None], factor)[0]
