"""QA scans give the same rows with worker processes as in one process."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammoeval.core.pool import WorkerPool
from mammoeval.data.imageset import TensorImageSet
from mammoeval.qa import scan_folder, scan_image_set, write_qa


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(2) as p:
        yield p


def test_scan_image_set_workers_equal_one_process(phantoms, pool, tmp_path):
    imgs = [img for _, img, _ in phantoms[:4]]
    imgs[2] = np.full_like(imgs[2], np.nan)
    views = torch.tensor([0 if v == "CC" else 1 for v, _, _ in phantoms[:4]])
    images = TensorImageSet(torch.from_numpy(np.stack(imgs)[:, None]), views, name="ph")
    one = scan_image_set(images, progress=False, keep_details=2, batch_size=3)
    two = scan_image_set(images, progress=False, keep_details=2, batch_size=3, pool=pool)
    assert two.rows == one.rows and list(two.details) == list(one.details)
    for k in one.details:
        assert np.array_equal(one.details[k].coarse, two.details[k].coarse)
    write_qa(one, tmp_path / "one")
    write_qa(two, tmp_path / "two")
    for name in ("qa.csv", "qa.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_scan_folder_workers_equal_one_process_and_name_a_bad_file(phantoms, pool, tmp_path):
    from PIL import Image

    from mammoeval.core.errors import BadInputError

    for i, (view, img, _) in enumerate(phantoms[:4]):
        Image.fromarray((img * 65535).astype(np.uint16)).save(tmp_path / f"p{i}_L_{view}.png")
    one = scan_folder(tmp_path, progress=False)
    two = scan_folder(tmp_path, progress=False, pool=pool)
    assert two.rows == one.rows and len(two.rows) == 4
    (tmp_path / "p9_L_CC.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(BadInputError, match="p9_L_CC.png"):
        scan_folder(tmp_path, progress=False, pool=pool)
