"""Seeded metrics: the same seed repeats, another seed differs, and batch 1 == batch all (streams per image)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import MetricResult, SampledSets, ViewResults
from mammoeval.metrics.c2st import C2STMetric, C2STSettings
from mammoeval.metrics.features import FeatureMetric, FeatureSettings
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings
from mammoeval.metrics.offline import OfflineExtractor
from mammoeval.metrics.swd import SWDMetric, SWDSettings
from tests.metrics.conftest import breast_images

REAL, FAKE = breast_images(14, seed=1), breast_images(12, seed=2, blur=1)
VIEWS_REAL = torch.arange(14) % 2
VIEWS_FAKE = torch.arange(12) % 2


def _swd(seed: int) -> SampledSets:
    return SWDMetric(SWDSettings(seed=seed, max_images=10, patches_per_image=16, repeats=1, dirs_per_repeat=16,
                                 n_bootstrap=4, floor_splits=2))


def _msssim(seed: int) -> SampledSets:
    return MSSSIMDiversity(MSSSIMSettings(seed=seed, max_images=9, n_pairs=12))


def _features(seed: int) -> SampledSets:
    return FeatureMetric(OfflineExtractor(), space="offline", settings=FeatureSettings(
        seed=seed, max_items=10, kid_subsets=4, kid_subset_size=4, n_bootstrap=4, floor_splits=2))


def _c2st(seed: int) -> SampledSets:
    return C2STMetric(OfflineExtractor(), C2STSettings(seed=seed, max_items=10, n_folds=2, n_repeats=1, n_bootstrap=3))


def _run(make: Callable[[int], SampledSets], *, seed: int, batch: int) -> ViewResults:
    m = make(seed)
    for x, v, real in ((REAL, VIEWS_REAL, True), (FAKE, VIEWS_FAKE, False)):
        for s in range(0, x.shape[0], batch):
            m.update(ImageBatch(x[s:s + batch], v[s:s + batch], [str(i) for i in range(s, min(s + batch, len(x)))]),
                     real=real)
    return m.compute()


def _numbers(res: ViewResults) -> dict[str, Any]:
    """Every number of every result (NaN as a string, so that equal runs compare equal)."""

    def num(x: float | None) -> Any:
        return "nan" if x is not None and math.isnan(x) else x

    def flat(r: MetricResult) -> tuple[Any, ...]:
        return (num(r.value), tuple(num(c) for c in r.ci) if r.ci else None, num(r.floor), num(r.floor_sd),
                r.n_real, r.n_fake)

    return {f"{k}/{v}": flat(r) for v, keys in res.items() for k, r in keys.items()}


@pytest.mark.parametrize("make", [_swd, _msssim, _features, _c2st], ids=["swd", "msssim", "features", "c2st"])
def test_seeded_results_repeat_differ_by_seed_and_ignore_batching(make: Callable[[int], SampledSets]) -> None:
    one = _numbers(_run(make, seed=3, batch=1))
    assert one, "no result was computed"
    assert _numbers(_run(make, seed=3, batch=26)) == one
    assert _numbers(_run(make, seed=3, batch=5)) == one
    other = _numbers(_run(make, seed=4, batch=26))
    assert other.keys() == one.keys() and other != one
