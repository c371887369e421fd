"""Open any image path as an `ImageSet`: a prepared dataset or a plain folder of images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mammoeval.core.errors import BadInputError
from mammoeval.data.folder import FolderImageSet
from mammoeval.data.imageset import ImageSet, PreparedImageSet
from mammoeval.data.prepared import is_prepared_dataset


def open_image_set(path: str | Path, *, size: tuple[int, int] | None = None,
                   views: Sequence[str] | None = None) -> ImageSet:
    """Open a prepared dataset or a plain folder of images as an `ImageSet`.

    Args:
        path: prepared dataset directory, or a folder of PNG/JPEG/TIFF/PGM/DICOM images.
        size: (height, width) for a plain folder (images are fitted and zero-padded to it as in
            `mammoeval data prepare`); None = the size of the first image.
        views: keep only these views (None = all).

    Raises:
        BadInputError: the path is missing, or holds no readable image.
    """
    p = Path(path)
    if not p.exists():
        raise BadInputError(p, "no such file or folder")
    if is_prepared_dataset(p):
        return PreparedImageSet(p, views=views)
    return FolderImageSet(p, size=size, views=views)
