"""FRD: agreement with frd-score, closed-form cases of the normalised Fréchet stage, state and streaming."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mammoeval.data.imageset import TensorImageSet
from mammoeval.metrics.cache import load_cached, save_cached
from mammoeval.metrics.frd import (
    FRDMetric,
    FRDSettings,
    compute_frd,
    compute_frd_squared,
    frechet_from_rows,
    normalize_frd_v1,
)
from mammoeval.metrics.frechet import frechet_distance
from mammoeval.metrics.radiomics import radiomics_version
from tests.metrics.conftest import breast_images

needs_radiomics = pytest.mark.skipif(radiomics_version() is None,
                                     reason="PyRadiomics (pyradiomics-bhklab) is not installed")


def _feed(metric: FRDMetric, real: torch.Tensor, fake: torch.Tensor, *, batch: int = 4) -> None:
    views = lambda x: torch.arange(x.shape[0]) % 2  # noqa: E731
    for r, s in ((True, real), (False, fake)):
        for b in TensorImageSet(s, views(s)).iter_batches(batch):
            metric.update(b, real=r)


# --- pure stages ---------------------------------------------------------------------------------

def test_normalize_drops_nan_rows_and_real_constant_columns() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(10, 4))
    real[:, 2] = 7.0  # constant in the real set: its z-score is 0/0 or x/0
    real[3, 1] = np.nan
    fake = rng.normal(size=(6, 4))
    rn, fn = normalize_frd_v1(real, fake)
    assert rn.shape == (9, 3) and fn.shape == (6, 3)
    assert rn.dtype == np.float32
    kept = np.delete(real, 3, axis=0)[:, [0, 1, 3]].astype(np.float32)
    np.testing.assert_allclose(rn, (kept - kept.mean(0)) / kept.std(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("n1", "n2", "dim"), [(6, 9, 120), (40, 30, 12), (12, 12, 12)])
def test_row_space_frechet_equals_the_eigenvalue_frechet(n1: int, n2: int, dim: int) -> None:
    rng = np.random.default_rng(n1 + dim)
    a, b = rng.normal(size=(n1, dim)), 1.5 * rng.normal(size=(n2, dim)) + 0.2
    reference = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_from_rows(a, b) == pytest.approx(reference, rel=1e-7)


def test_frd_squared_of_a_shift_is_the_squared_shift_in_real_std_units() -> None:
    # A shifted copy has the same covariance, so d^2 = ||shift / std||^2 exactly (Heusel et al.'s identity).
    rng = np.random.default_rng(1)
    real = rng.normal(size=(40, 5)) * np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    shift = np.array([0.5, -1.0, 0.25, 0.0, 3.0])
    d2 = compute_frd_squared(real, real + shift)
    expected = float(((shift / real.std(0)) ** 2).sum())
    assert d2 == pytest.approx(expected, rel=1e-4)
    assert compute_frd(real, real + shift) == pytest.approx(math.log(expected), abs=1e-4)


def test_frd_is_minus_inf_or_tiny_for_identical_sets_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(size=(30, 6))
    assert compute_frd_squared(real, real) < 1e-6
    values = [compute_frd(real, real + s) for s in (0.1, 0.5, 2.0)]
    assert values == sorted(values)


def test_frd_needs_two_usable_images_per_set() -> None:
    real = np.ones((5, 3))
    with pytest.raises(ValueError, match="at least 2 images"):
        compute_frd_squared(np.random.default_rng(0).normal(size=(5, 3)), np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="no radiomics feature varies"):
        compute_frd_squared(real, real + 1)


def test_settings_reject_an_unknown_region() -> None:
    with pytest.raises(ValueError, match="region"):
        FRDSettings(region="lungs")  # type: ignore[arg-type]


# --- features and the streaming metric -----------------------------------------------------------

@needs_radiomics
def test_breast_region_features_ignore_pixels_far_from_the_region() -> None:
    from mammoeval.metrics.radiomics import extract_radiomics

    img = breast_images(1, height=96, width=128, seed=3)[0, 0].numpy()
    mask = np.zeros_like(img, dtype=bool)
    mask[20:70, 0:40] = True
    changed = img.copy()
    changed[:, 81:] = np.random.default_rng(0).random((96, 47))  # > 40 px right of the bounding box
    a = extract_radiomics(img, mask, normalize_in_region=True)
    b = extract_radiomics(changed, mask, normalize_in_region=True)
    assert a.keys() == b.keys() and len(a) > 300
    assert all(a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9) for k in a)
    whole_a, whole_b = extract_radiomics(img), extract_radiomics(changed)
    assert any(whole_a[k] != pytest.approx(whole_b[k], rel=1e-3) for k in whole_a)


@needs_radiomics
def test_streaming_equals_in_memory_and_cached_real_state_gives_the_same_value(tmp_path: Path) -> None:
    real, fake = breast_images(4, seed=10), breast_images(4, seed=11)
    one, many = FRDMetric(FRDSettings(n_bootstrap=5)), FRDMetric(FRDSettings(n_bootstrap=5))
    _feed(one, real, fake, batch=1)
    _feed(many, real, fake, batch=4)
    res_one, res_many = one.compute(), many.compute()
    assert res_one["all"]["frd"].value == res_many["all"]["frd"].value
    assert res_one["all"]["frd"].n_real == 4 and set(res_one) == {"CC", "MLO", "all"}
    lo, hi = res_one["all"]["frd"].ci
    assert lo <= res_one["all"]["frd"].value <= hi
    path = tmp_path / "frd.pt"
    save_cached(path, one.real_state())
    restored = FRDMetric(FRDSettings(n_bootstrap=5))
    restored.load_real_state(load_cached(path))
    for b in TensorImageSet(fake, torch.arange(4) % 2).iter_batches(3):
        restored.update(b, real=False)
    assert restored.compute()["all"]["frd"].value == res_one["all"]["frd"].value

    # A blurred generated set is farther from the real set than a fresh draw of the same texture.
    one.reset_fake()
    for b in TensorImageSet(breast_images(4, seed=11, blur=2), torch.arange(4) % 2).iter_batches(4):
        one.update(b, real=False)
    assert one.compute()["all"]["frd"].value > res_one["all"]["frd"].value


@needs_radiomics
def test_a_view_with_one_image_is_unavailable_with_a_reason() -> None:
    m = FRDMetric(FRDSettings(n_bootstrap=0))
    imgs = breast_images(4, seed=30)
    for r in (True, False):
        m.update(TensorImageSet(imgs, torch.tensor([0, 0, 0, 1])).iter_batches(4).__next__(), real=r)
    assert "MLO" not in m.compute()
    assert "too few images" in m.unavailable()["frd/MLO"]


# --- agreement with the reference implementation ---------------------------------------------------

def _write_pngs(images: torch.Tensor, folder: Path) -> None:
    from PIL import Image

    folder.mkdir()
    for i, im in enumerate(images):
        Image.fromarray((im[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{i:03d}.png")


@needs_radiomics
@pytest.mark.skipif(importlib.util.find_spec("frd_score") is None,
                    reason="frd-score is not installed (python -m pip install frd-score==1.0.1)")
def test_frd_agrees_with_python_m_frd_score_within_one_percent(phantom_dir_80x64: Path, tmp_path: Path) -> None:
    from mammoeval.data.open import open_image_set

    images = torch.cat([b.images for b in open_image_set(phantom_dir_80x64).iter_batches(16)])
    images = (images * 255).round() / 255  # exactly the 8-bit grey levels written below
    a, b = images[:6], images[8:14]
    _write_pngs(a, tmp_path / "a")
    _write_pngs(b, tmp_path / "b")
    run = subprocess.run([sys.executable, "-m", "frd_score", str(tmp_path / "a"), str(tmp_path / "b"), "-w", "1"],
                         capture_output=True, text=True, timeout=600, check=True)
    reference = float(re.findall(r"FRD \(v1\): (\S+)", run.stdout)[-1])
    m = FRDMetric(FRDSettings(n_bootstrap=0))
    _feed(m, a, b)
    ours = m.compute()["all"]["frd"].value
    assert ours == pytest.approx(reference, rel=0.01)


@needs_radiomics
def test_suite_scores_frd_caches_the_real_features_and_needs_a_masker_for_frd_breast(tmp_path: Path) -> None:
    from mammoeval.metrics.suite import compute_suite
    from mammoeval.qa.breast_mask import compute_breast_mask

    real = TensorImageSet(breast_images(4, seed=40), torch.arange(4) % 2, name="real")
    fake = TensorImageSet(breast_images(4, seed=41), torch.arange(4) % 2, name="fake")
    kw = {"metrics": ("frd", "frd_breast"), "n_bootstrap": 0, "progress": False, "cache_dir": tmp_path}
    first = compute_suite(real, fake, **kw)  # type: ignore[arg-type]
    assert "frd" in first.views["all"] and "frd_breast" not in first.views["all"]
    assert "breast_masker" in first.unavailable["frd_breast"]
    again = compute_suite(real, fake, **kw)  # type: ignore[arg-type]
    assert again.settings["cache"]["frd"] == "hit" and first.settings["cache"]["frd"] == "miss"
    assert again.views["all"]["frd"].value == first.views["all"]["frd"].value
    both = compute_suite(real, fake, breast_masker=compute_breast_mask, **kw)  # type: ignore[arg-type]
    assert both.views["all"]["frd_breast"].value != both.views["all"]["frd"].value
