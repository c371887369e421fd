"""On real mammograms (skipped where ../shared/data/real-dev is absent): a real-vs-real split sits
below real-vs-degraded for SWD, and a set scores no copies against a disjoint set but flags itself."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from mammoeval.data.imageset import TensorImageSet

REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"

pytestmark = pytest.mark.realdev


@pytest.fixture(scope="module")
def real_images() -> TensorImageSet:
    if not REAL_DEV.is_dir():
        pytest.skip("real-dev data absent")
    from mammoeval.data.open import open_image_set

    s = open_image_set(REAL_DEV, size=(160, 128))
    batches = list(s.iter_batches(32))
    images = torch.cat([b.images for b in batches])
    views = torch.cat([b.views for b in batches])
    ids = [i for b in batches for i in b.ids]
    return TensorImageSet(images, views, name="real-dev", ids=ids)


def test_swd_real_halves_below_blurred_and_copies_flagged(real_images: TensorImageSet, tmp_path: Path) -> None:
    from mammoeval.metrics.suite import compute_suite

    # interleaved halves: the folder is sorted by source, and sources differ a lot
    a, b = slice(0, None, 2), slice(1, None, 2)
    half_a = TensorImageSet(real_images.images[a], real_images.views[a], ids=real_images.ids[a], name="a")
    half_b = TensorImageSet(real_images.images[b], real_images.views[b], ids=real_images.ids[b], name="b")

    def blurred(k: int) -> TensorImageSet:
        x = torch.nn.functional.avg_pool2d(half_b.images, k, stride=1, padding=k // 2, count_include_pad=False)
        return TensorImageSet(x, half_b.views, ids=half_b.ids, name=f"blur{k}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        kw = dict(metrics=("swd", "memorization"), n_bootstrap=0, progress=False, cache_dir=tmp_path)
        fair = compute_suite(half_a, half_b, **kw).to_json()["views"]["all"]  # type: ignore[arg-type]
        blur5 = compute_suite(half_a, blurred(5), **kw).to_json()["views"]["all"]  # type: ignore[arg-type]
        blur9 = compute_suite(half_a, blurred(9), **kw).to_json()["views"]["all"]  # type: ignore[arg-type]
        copies = compute_suite(half_a, half_a, **kw).to_json()["views"]["all"]  # type: ignore[arg-type]
    assert fair["swd_l0"]["value"] < blur5["swd_l0"]["value"] < blur9["swd_l0"]["value"]
    assert fair["swd_avg"]["value"] < blur9["swd_avg"]["value"]
    assert copies["memorization_rate"]["value"] == 1.0
    assert fair["memorization_rate"]["value"] < 0.5
