"""16-bit data reach the metrics without being quantised to 8 bits (folder mode, 16-bit PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mammoeval.data.imageset import ImageBatch
from mammoeval.data.open import open_image_set
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings, ms_ssim
from mammoeval.metrics.swd import SWDMetric, SWDSettings

H, W, N = 80, 64, 6
STEP = 64
"""The two sets differ by 64 / 65535 = 1e-3 on a checkerboard: a quarter of one 8-bit step (1 / 255)."""


def _write_pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a_all, b_all = [], []
    for i in range(N):
        smooth = 0.5 + 0.3 * np.sin(xx / (7 + i) + rng.uniform(0, 6)) * np.cos(yy / (9 + i))
        a = (np.round(smooth * 255) * 257).astype(np.uint16)  # on the 8-bit grid, in 16 bits
        b = a + ((yy + xx) % 2 == 0).astype(np.uint16) * STEP
        Image.fromarray(a).save(a_dir / f"img{i}.png")
        Image.fromarray(b).save(b_dir / f"img{i}.png")
        a_all.append(a)
        b_all.append(b)
    return a_dir, b_dir, np.stack(a_all), np.stack(b_all)


def _batch(path: Path) -> ImageBatch:
    return next(iter(open_image_set(path).iter_batches(N)))


def test_folder_reader_keeps_sub_8_bit_differences(tmp_path: Path) -> None:
    a_dir, b_dir, a16, b16 = _write_pair(tmp_path)
    a, b = _batch(a_dir).images, _batch(b_dir).images
    assert a.dtype == torch.float32
    # the only difference lies below 8-bit resolution: quantised to 8 bits both sets are identical
    assert np.array_equal(np.round(a16 / 65535 * 255), np.round(b16 / 65535 * 255))
    diff = (b - a)[:, 0].numpy()
    assert np.allclose(diff, (b16.astype(np.float64) - a16) / 65535, atol=1e-6)
    assert diff.max() > 0.9 * STEP / 65535


def test_swd_sees_a_difference_below_8_bits(tmp_path: Path) -> None:
    a_dir, b_dir, _, _ = _write_pair(tmp_path)
    a, b = _batch(a_dir), _batch(b_dir)

    def swd_l0(fake: ImageBatch) -> float:
        m = SWDMetric(SWDSettings(n_bootstrap=0, floor_splits=1, descriptor_dtype="float16"))
        m.update(a, real=True)
        m.update(fake, real=False)  # the same patch positions for both generated sets
        return m.compute()["all"]["swd_l0"].value

    same, shifted = swd_l0(a), swd_l0(b)
    # The checkerboard lives in the finest Laplacian level. Quantised to 8 bits, b would equal a and the
    # two values would be identical; at 16 bits it moves the finest level's SWD by several percent
    # (each set is normalised by its own spread, so the 8-bit rounding texture of a sets the scale).
    assert shifted > 1.03 * same
    assert SWDMetric(SWDSettings()).cfg.descriptor_dtype == "float16"  # float16 descriptors keep 11 significant bits


def test_msssim_keeps_16_bit_precision(tmp_path: Path) -> None:
    a_dir, b_dir, _, _ = _write_pair(tmp_path)
    a, b = _batch(a_dir), _batch(b_dir)
    assert float(ms_ssim(a.images, b.images).max()) < 1 - 1e-6  # 8-bit quantisation would give exactly 1
    m = MSSSIMDiversity(MSSSIMSettings(n_pairs=10, max_images=N, n_bootstrap=0))
    m.update(b, real=True)
    values, first, second, _ = m.pairs(True, "all")
    direct = ms_ssim(b.images[first], b.images[second]).double().numpy()
    assert np.allclose(values, direct, atol=1e-6)
