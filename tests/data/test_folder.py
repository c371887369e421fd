"""`FolderImageSet`: a plain folder of generated images as an `ImageSet`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mammoeval.core.errors import BadInputError
from mammoeval.data import preprocess as pp
from mammoeval.data.folder import FolderImageSet
from mammoeval.data.imageset import ImageSet
from mammoeval.data.open import open_image_set


def write_png(path: Path, seed: int, shape: tuple[int, int] = (80, 64)) -> np.ndarray:
    """Write a random 8-bit PNG and return its pixels as float in [0, 1]."""
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr / 255.0


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "fake"
    write_png(root / "0001_CC.png", 1)
    write_png(root / "0002_MLO.png", 2)
    write_png(root / "b" / "0003.png", 3)
    write_png(root / "b" / "0004_L_CC.png", 4)
    write_png(root / "b" / "0005-rmlo.png", 5)
    (root / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_folder_set_streams_every_image_with_views_from_names(folder: Path) -> None:
    s = FolderImageSet(folder)
    assert isinstance(s, ImageSet)
    assert len(s) == 5 and s.size == (80, 64)
    assert s.view_labels().tolist() == [0, 1, -1, 0, 1]
    batches = list(s.iter_batches(2))
    assert [b.images.shape[0] for b in batches] == [2, 2, 1]
    images = torch.cat([b.images for b in batches])
    assert images.shape == (5, 1, 80, 64) and images.dtype == torch.float32
    expected = write_png(folder.parent / "copy.png", 3)  # same seed as b/0003.png
    np.testing.assert_allclose(images[2, 0].numpy(), expected, atol=1e-6)  # same size: untouched
    assert batches[1].ids == ["b/0003", "b/0004_L_CC"]
    assert torch.cat([b.views for b in batches]).tolist() == s.view_labels().tolist()


def test_folder_set_reduction_and_view_filter(folder: Path) -> None:
    s = FolderImageSet(folder, views=["CC"])
    assert len(s) == 2 and s.view_labels().tolist() == [0, 0]
    full = next(s.iter_batches(2)).images
    half = next(s.iter_batches(2, reduction=2)).images
    assert half.shape == (2, 1, 40, 32)
    torch.testing.assert_close(half, torch.nn.functional.avg_pool2d(full, 2))
    with pytest.raises(ValueError, match="power of two"):
        next(s.iter_batches(2, reduction=3))


def test_folder_set_fits_and_pads_like_prepare(tmp_path: Path) -> None:
    src = write_png(tmp_path / "f" / "wide.png", 7, shape=(100, 200))
    s = FolderImageSet(tmp_path / "f", size=(81, 64))
    got = next(s.iter_batches(1)).images[0, 0].numpy()
    want, plan = pp.fit_to(src.astype(np.float32), (81, 64))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert (plan.pad_top, plan.pad_bottom) == (24, 25) and np.all(got[:24] == 0)


def test_content_hash_follows_file_bytes(folder: Path) -> None:
    h1 = FolderImageSet(folder).content_hash
    assert FolderImageSet(folder).content_hash == h1
    assert FolderImageSet(folder, size=(40, 32)).content_hash != h1
    write_png(folder / "0002_MLO.png", 99)
    assert FolderImageSet(folder).content_hash != h1


def test_bad_files_raise_naming_the_file(folder: Path, tmp_path: Path) -> None:
    (folder / "b" / "0006_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    s = FolderImageSet(folder)
    with pytest.raises(BadInputError, match=r"0006_broken\.png: "):
        list(s.iter_batches(4))
    small = tmp_path / "small"
    write_png(small / "a.png", 1, shape=(40, 32))
    with pytest.raises(BadInputError, match=r"a\.png: image 40x32 is smaller"):
        list(FolderImageSet(small, size=(80, 64)).iter_batches(1))
    assert next(FolderImageSet(small, size=(80, 64), allow_upsample=True).iter_batches(1)).images.shape[2:] == (80, 64)


def test_empty_or_missing_folder_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("x")
    with pytest.raises(BadInputError, match=r"empty: no images found"):
        FolderImageSet(tmp_path / "empty")
    with pytest.raises(BadInputError, match="no such file"):
        open_image_set(tmp_path / "missing")


def test_canonical_option_flips_right_breasts(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:80, 0:64]
    r2 = ((yy - 40) / 36.0) ** 2 + ((63 - xx) / 48.0) ** 2  # chest wall on the right
    arr = np.where(r2 < 1, 200, 0).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "r.png")
    plain = next(FolderImageSet(tmp_path).iter_batches(1)).images[0, 0]
    canon = next(FolderImageSet(tmp_path, canonical=True).iter_batches(1)).images[0, 0]
    torch.testing.assert_close(canon, plain.flip(-1))


def test_open_image_set_dispatches_to_folder(folder: Path) -> None:
    s = open_image_set(folder, size=(40, 32))
    assert isinstance(s, FolderImageSet) and s.size == (40, 32)
