"""`FolderImageSet`: the `ImageSet` over a plain folder of images from any generator.

Files are found recursively (PNG, JPEG, TIFF, PGM, DICOM), read with the ingest readers, fitted
and zero-padded to one size exactly like `mammoeval data prepare` (no canonical flip unless asked:
generated images are already canonical), and streamed in sorted path order. View labels come from
file-name conventions (`L_CC`, `RMLO`, ...) or are unknown (-1). Scoring must not silently drop
images, so a bad file raises `BadInputError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import printable_path, sha256_file, sha256_strings
from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.core.views import view_to_label
from mammoeval.data import preprocess as pp
from mammoeval.data.imageset import ImageBatch
from mammoeval.data.labels import infer_chest_wall, labels_from_name
from mammoeval.data.readers import DICOM_SUFFIXES, RASTER_SUFFIXES, read_image

IMAGE_SUFFIXES: frozenset[str] = RASTER_SUFFIXES | DICOM_SUFFIXES


class FolderImageSet:
    """`ImageSet` over the images in a folder tree.

    Args:
        path: folder searched recursively (hidden files and folders ignored).
        size: (height, width) every image is fitted and zero-padded to; None = the size of the first
            image (sorted order).
        views: keep only images whose file name says one of these views (e.g. ("CC",)); None = all,
            unknown views included.
        canonical: mirror each image so its chest wall is on the left (off: generated images are
            already canonical).
        allow_upsample: enlarge images smaller than `size` in both dimensions (off: such an image
            raises, since scoring an enlarged image would flatter it).

    Raises:
        BadInputError: the folder is missing, or holds no image (after the view filter).
    """

    def __init__(self, path: str | Path, *, size: tuple[int, int] | None = None,
                 views: Sequence[str] | None = None, canonical: bool = False,
                 allow_upsample: bool = False) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise BadInputError(self.root, "not a folder of images")
        files = list_image_files(self.root)
        if not files:
            raise BadInputError(self.root, f"no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
        labels = [labels_from_name(f) for f in files]
        keep = None if views is None else {v.strip().upper() for v in views}
        pairs = [(f, lab[0]) for f, lab in zip(files, labels, strict=True) if keep is None or lab[0] in keep]
        if not pairs:
            raise BadInputError(self.root, f"no images with views {sorted(keep or [])} in their file names")
        self.files: list[str] = [f for f, _ in pairs]
        self._views = torch.tensor([view_to_label(v) for _, v in pairs], dtype=torch.int64)
        self.name = self.root.name
        self.canonical = canonical
        self.allow_upsample = allow_upsample
        self._size = size if size is not None else read_image(self.root / self.files[0]).pixels.shape
        self._hash: str | None = None

    def __len__(self) -> int:
        return len(self.files)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of every image yielded at reduction 1."""
        return (int(self._size[0]), int(self._size[1]))

    @property
    def ids(self) -> list[str]:
        """Image ids in iteration order: the path relative to the folder, without suffix (bytes of a
        non-UTF-8 name written as ``\\xNN``)."""
        return [printable_path(f.rsplit(".", 1)[0]) for f in self.files]

    @property
    def content_hash(self) -> str:
        """SHA-256 over the size, options, and each file's relative path, view label and byte hash."""
        if self._hash is None:
            parts = [f"folder {self.size[0]}x{self.size[1]} canonical={self.canonical} "
                     f"upsample={self.allow_upsample}"]
            parts += [f"{f}\t{int(v)}\t{sha256_file(self.root / f)}"
                      for f, v in zip(self.files, self._views.tolist(), strict=True)]
            self._hash = sha256_strings(parts)
        return self._hash

    def view_labels(self) -> torch.Tensor:
        """int64 [N] view labels (0 CC, 1 MLO, -1 unknown) in iteration order."""
        return self._views.clone()

    def read(self, index: int) -> np.ndarray:
        """Return image `index` as float32 (H, W) in [0, 1], fitted and padded to `size`.

        Raises:
            BadInputError: the file is unreadable, or smaller than `size` when upsampling is off.
        """
        path = self.root / self.files[index]
        pixels = read_image(path).pixels
        if pp.plan_fit(pixels.shape, self.size).upsamples and not self.allow_upsample:
            raise BadInputError(path, f"image {pixels.shape[0]}x{pixels.shape[1]} is smaller than the size "
                                      f"{self.size[0]}x{self.size[1]} in both dimensions; choose a smaller size")
        if self.canonical:
            pixels, _ = pp.flip_to_left(pixels, infer_chest_wall(pixels).side)
        fitted, _ = pp.fit_to(pixels, self.size)
        return fitted

    def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Iterator[ImageBatch]:
        """Yield the images in sorted path order, `batch_size` at a time, box-reduced by `reduction`.

        Only one batch is in memory at a time.

        Raises:
            ValueError: `batch_size` < 1, or `reduction` is not a power of two dividing the size.
            BadInputError: a file cannot be read (the message names it).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if reduction < 1 or reduction & (reduction - 1) or self.size[0] % reduction or self.size[1] % reduction:
            raise ValueError(f"reduction must be a power of two dividing {self.size}, got {reduction}")
        ids = self.ids
        for start in range(0, len(self), batch_size):
            idx = range(start, min(start + batch_size, len(self)))
            images = box_reduce_tensor(torch.from_numpy(np.stack([self.read(i) for i in idx]))[:, None], reduction)
            yield ImageBatch(images, self._views[start:idx.stop].clone(), [ids[i] for i in idx])


def list_image_files(root: Path) -> list[str]:
    """Return the image files under `root` (recursive, by suffix), as sorted relative POSIX paths."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        here = Path(dirpath)
        found += [(here / n).relative_to(root).as_posix() for n in filenames
                  if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)

