"""The prepared-dataset contract: writer, manifest, content hash, lowres cache, Dataset, ImageSet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mammoeval.core.errors import BadInputError
from mammoeval.data.dataset import PreparedDataset
from mammoeval.data.imageset import PreparedImageSet, TensorImageSet
from mammoeval.data.open import open_image_set
from mammoeval.data.prepared import (
    ManifestRecord,
    finalize_dataset,
    lowres_reduction_for,
    read_dataset_info,
    read_manifest,
    read_png,
    write_image,
)


def _make(root: Path, n: int = 6, size: tuple[int, int] = (640, 512), bits: int = 8, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    recs, imgs = [], []
    for i in range(n):
        img = rng.random(size).astype(np.float32)
        rel, sha = write_image(root, f"img{i:02d}", img, bits=bits)
        recs.append(ManifestRecord(id=f"img{i:02d}", file=rel, view=("CC", "MLO", "ML")[i % 3],
                                   laterality="LR"[i % 2], sha256=sha))
        imgs.append(img)
    finalize_dataset(root, recs, height=size[0], width=size[1], bits=bits)
    return imgs


def test_png_round_trip_quantises_to_bits(tmp_path: Path) -> None:
    img = np.linspace(0, 1, 64 * 32, dtype=np.float32).reshape(64, 32)
    for bits, tol in ((8, 0.5 / 255), (16, 0.5 / 65535)):
        rel, _ = write_image(tmp_path, f"x{bits}", img, bits=bits)
        back = read_png(tmp_path / rel)
        assert back.dtype == np.float32 and back.shape == img.shape
        assert np.abs(back - img).max() <= tol + 1e-7


def test_manifest_and_info_round_trip(tmp_path: Path) -> None:
    _make(tmp_path)
    info = read_dataset_info(tmp_path)
    recs = read_manifest(tmp_path)
    assert info.n_images == 6 and info.size == (640, 512) and info.lowres_reduction == 4
    assert [r.id for r in recs] == sorted(r.id for r in recs)
    assert info.counts["view:CC"] == 2 and info.counts["view:ML"] == 2
    assert recs[1].view_label == 1 and recs[2].view_label == -1


def test_content_hash_changes_with_pixels_and_labels(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _make(a, seed=0)
    _make(b, seed=0)
    _make(c, seed=1)
    ha, hb, hc = (read_dataset_info(p).content_hash for p in (a, b, c))
    assert ha == hb and ha != hc


def test_dataset_reductions_agree_with_box_filter(tmp_path: Path) -> None:
    imgs = _make(tmp_path)
    full = PreparedDataset(tmp_path, reduction=1, views=None)
    assert len(full) == 6 and full.size == (640, 512)
    x, v = full[0]
    assert x.shape == (1, 640, 512) and v == 0
    for red in (2, 4, 8, 16):  # 4 and above come from lowres.npy, 2 from the PNG
        ds = PreparedDataset(tmp_path, reduction=red, views=None)
        y, _ = ds[3]
        ref = F.avg_pool2d(torch.from_numpy(read_png(tmp_path / ds.records[3].file))[None, None], red)[0]
        # lowres.npy is quantised to 8 bits once more
        torch.testing.assert_close(y, ref, atol=1.0 / 255 + 1e-6, rtol=0)
    assert np.allclose(x.numpy()[0], imgs[0], atol=0.5 / 255 + 1e-6)


def test_dataset_filters_views_by_default(tmp_path: Path) -> None:
    _make(tmp_path)
    ds = PreparedDataset(tmp_path, reduction=8)
    assert {r.view for r in ds.records} == {"CC", "MLO"}
    assert ds.view_labels.tolist() == [0, 1, 0, 1]


def test_dataset_rejects_bad_reduction_and_missing_dir(tmp_path: Path) -> None:
    _make(tmp_path)
    with pytest.raises(ValueError, match="power of two"):
        PreparedDataset(tmp_path, reduction=3)
    with pytest.raises(BadInputError, match="not a prepared dataset"):
        PreparedDataset(tmp_path / "nope")


def test_finalize_with_no_images_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no usable image"):
        finalize_dataset(tmp_path, [], height=8, width=8, bits=8)


def test_lowres_reduction_rule() -> None:
    assert lowres_reduction_for(1280, 1024) == 8
    assert lowres_reduction_for(160, 128) == 0
    assert lowres_reduction_for(320, 256) == 2


def test_image_sets_stream_same_pixels(tmp_path: Path) -> None:
    _make(tmp_path)
    s = open_image_set(tmp_path)
    assert isinstance(s, PreparedImageSet) and len(s) == 6
    batches = list(s.iter_batches(4, reduction=4))
    assert [b.images.shape[0] for b in batches] == [4, 2]
    imgs = torch.cat([b.images for b in batches])
    views = torch.cat([b.views for b in batches])
    t = TensorImageSet(imgs, views)
    assert torch.equal(torch.cat([b.images for b in t.iter_batches(1)]), imgs)
    assert t.content_hash != TensorImageSet(imgs.flip(0), views).content_hash
    cc = batches[0].select_view(0)
    assert cc.views.tolist() == [0, 0] and cc.ids == ["img00", "img03"]
