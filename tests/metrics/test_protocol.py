"""The sample-size protocol: matched floors, equal-size values, ratios, and bad input as `unavailable`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mammoeval.data.imageset import ImageBatch, TensorImageSet
from mammoeval.metrics.c2st import C2STSettings, compute_c2st
from mammoeval.metrics.frd import FRDMetric, FRDSettings
from mammoeval.metrics.frechet import compute_fid
from mammoeval.metrics.prdc import compute_prdc
from mammoeval.metrics.suite import compute_suite
from mammoeval.metrics.swd import SWDMetric, SWDSettings
from mammoeval.metrics.uncertainty import centred_interval, floor_size, matched_splits


def test_matched_splits_are_disjoint_seeded_and_sized_like_the_generated_set() -> None:
    splits = matched_splits(100, 30, n_splits=4, seed=1)
    assert len(splits) == 4
    for a, b in splits:
        assert len(a) == len(b) == 30 and not set(a) & set(b) and max(a.max(), b.max()) < 100
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(splits, matched_splits(100, 30, n_splits=4, seed=1),
                                                            strict=True))
    assert not np.array_equal(splits[0][0], splits[1][0])
    assert floor_size(50, 30) == 25 and floor_size(60, 30) == 30  # fewer than 2N reals: the largest equal size


def test_centred_interval_always_holds_its_value() -> None:
    # replicates biased far above the value (what duplicates do to a distance) still give an interval around it
    reps = np.random.default_rng(0).normal(8.0, 0.7, size=200)
    lo, hi = centred_interval(5.16, reps)  # type: ignore[misc]
    assert lo <= 5.16 <= hi and hi - lo == pytest.approx(np.subtract(*np.quantile(reps, [0.975, 0.025])), rel=1e-9)


def _texture(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tex = torch.rand(n, 1, 8, 8, generator=g)
    x = torch.nn.functional.interpolate(tex, size=(32, 32), mode="bilinear", align_corners=False)
    return (0.7 * x + 0.3 * torch.rand(n, 1, 32, 32, generator=g)).clamp(0, 1)


@pytest.mark.parametrize(("n_real", "n_fake"), [(64, 16), (24, 24)])
def test_identical_generator_reads_as_real_for_swd(n_real: int, n_fake: int) -> None:
    m = SWDMetric(SWDSettings(n_bootstrap=30, patches_per_image=32, descriptor_dtype="float32"))
    views = torch.zeros(max(n_real, n_fake), dtype=torch.int64)
    m.update(ImageBatch(_texture(n_real, 1), views[:n_real], [str(i) for i in range(n_real)]), real=True)
    m.update(ImageBatch(_texture(n_fake, 2), views[:n_fake], [str(i) for i in range(n_fake)]), real=False)
    r = m.compute()["all"]["swd_avg"]
    assert r.floor_splits == 5 and r.floor_size == min(n_fake, n_real // 2)
    assert r.ratio is not None and 0.8 < r.ratio < 1.25
    if n_real >= 2 * n_fake:  # value and floor at one size: the floor lies inside the value's interval
        assert r.ci is not None and r.ci[0] <= r.floor <= r.ci[1] and r.matched_value is None  # type: ignore[operator]
    else:  # too few reals: the ratio compares the value at the floor's size
        assert r.matched_value is not None and r.ratio == pytest.approx(r.matched_value / r.floor)  # type: ignore[operator]
        assert r.value < r.matched_value  # the full-size value carries less small-sample bias


def test_identical_generator_reads_as_real_for_fid_and_prdc() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(512, 4)), rng.normal(size=(128, 4))
    fid = compute_fid(real, fake, n_bootstrap=50, seed=0)
    assert fid.floor_size == 128 and fid.ci is not None and fid.ci[0] <= fid.floor <= fid.ci[1]  # type: ignore[operator]
    assert 0.6 < fid.ratio < 1.6  # type: ignore[operator]
    prdc = compute_prdc(torch.from_numpy(real), torch.from_numpy(fake), n_bootstrap=50, seed=0)
    # 512 real balls against 128 generated points would read coverage ~0.65; on equal sets it matches the floor
    cov = prdc["coverage"]
    assert cov.floor_size == 128 and abs(cov.value - cov.floor) < 0.08  # type: ignore[operator]
    assert all(r.ci is not None and r.ci[0] <= r.value <= r.ci[1] for r in prdc.values())


def test_identical_generator_reads_as_real_for_frd_and_c2st() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(512, 8)), rng.normal(size=(128, 8))
    frd = FRDMetric(FRDSettings(n_bootstrap=20))._compute_view(real, fake, 0)
    assert frd is not None and frd.floor is not None and frd.matched_value is not None
    assert frd.floor_size == 128 and frd.floor_splits == 5
    # FRD is ln d^2: the ratio is that of the squared distances, at the floor's size
    assert frd.ratio == pytest.approx(math.exp(frd.matched_value - frd.floor))
    assert 0.5 < frd.ratio < 2.0  # type: ignore[operator]
    shifted = FRDMetric(FRDSettings(n_bootstrap=0))._compute_view(real, fake + 0.5, 0)
    assert shifted is not None and shifted.ratio is not None and shifted.ratio > 3.0

    c2 = compute_c2st(real, fake, C2STSettings(n_bootstrap=20))
    assert c2.floor is not None and c2.matched_value is not None
    assert c2.floor_size == 128 and c2.floor_splits == 5 and abs(c2.matched_value - c2.floor) < 0.12
    few = compute_c2st(real[:150], fake, C2STSettings(n_bootstrap=0))  # fewer than 2 x 128 reals
    assert few.floor_size == 75 and few.matched_value is not None


def test_too_few_images_in_a_view_is_unavailable_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    views_r = torch.tensor([0] * 6 + [1] * 6)
    views_f = torch.tensor([0] * 5 + [1])  # one MLO image: nothing can be compared for MLO
    real = TensorImageSet(_texture(12, 3), views_r, name="real")
    fake = TensorImageSet(_texture(6, 4), views_f, name="fake")
    out = compute_suite(real, fake, metrics=["swd", "msssim", "prdc_offline"], n_bootstrap=10, progress=False)
    assert "MLO" not in out.views or not out.views["MLO"]
    assert "too few images" in out.unavailable["swd/MLO"] and "generated 1" in out.unavailable["swd/MLO"]
    assert "need 6 of each" in out.unavailable["prdc_offline/CC"]  # 5 generated CC images < k + 1 = 6 for PRDC
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "swd/MLO" in ln]
    assert len(lines) == 1 and "Traceback" not in err
    assert "real-vs-real floors use fewer real images" in err and err.count("real-vs-real floors") == 1
    for res in out.views.values():
        assert all(np.isfinite(r.value) for r in res.values())
