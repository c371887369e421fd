"""SWD: agreement with a NumPy reference on the same random choices, ranking, streaming, bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammoeval.core.seeding import Stream, torch_generator
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.swd import (
    SWDMetric,
    SWDSettings,
    level_sizes,
    memory_bound_bytes,
    sample_patch_centers,
)
from tests.metrics import swd_reference as ref
from tests.metrics.conftest import breast_images


def _feed(m: SWDMetric, x: torch.Tensor, *, real: bool, batch: int) -> None:
    views = torch.zeros(x.shape[0], dtype=torch.int64)
    for s in range(0, x.shape[0], batch):
        m.update(ImageBatch(x[s:s + batch], views[s:s + batch], [str(i) for i in range(s, min(s + batch, len(x)))]),
                 real=real)


def _swd(real: torch.Tensor, fake: torch.Tensor, *, batch: int = 4, **kw: object) -> dict[str, float]:
    m = SWDMetric(SWDSettings(n_bootstrap=0, **kw))  # type: ignore[arg-type]
    _feed(m, real, real=True, batch=batch)
    _feed(m, fake, real=False, batch=batch)
    return {k: r.value for k, r in m.compute()["all"].items()}


def _reference(x: torch.Tensor, stream: Stream, cfg: SWDSettings, channels: int) -> list[np.ndarray]:
    """Raw descriptors per level with the same patch centres the metric draws."""
    h, w = x.shape[-2:]
    n_levels = len(level_sizes(h, w, min_size=cfg.min_size))
    per_level: list[list[np.ndarray]] = [[] for _ in range(n_levels)]
    for i in range(x.shape[0]):
        g = torch_generator(cfg.seed, stream, i)
        torch.rand(1, generator=g, dtype=torch.float64)  # the image's sampling key comes first
        pyr = ref.pyramid(x[i, 0].double().numpy(), n_levels)
        for li, level in enumerate(pyr):
            ys, xs = sample_patch_centers(*level.shape, cfg.patches_per_image, patch_size=7, generator=g)
            per_level[li].append(ref.descriptors(level, ys.numpy(), xs.numpy(), channels))
    return [np.concatenate(d) for d in per_level]


@pytest.mark.parametrize("mode", ["native", "pggan"])
def test_matches_numpy_reference_on_same_choices(mode: str) -> None:
    cfg = SWDSettings(mode=mode, n_bootstrap=0, descriptor_dtype="float32", patches_per_image=64, repeats=2,
                      dirs_per_repeat=32)
    real, fake = breast_images(5, seed=1), breast_images(5, seed=2, blur=1)
    got = _swd(real, fake, mode=mode, descriptor_dtype="float32", patches_per_image=64, repeats=2, dirs_per_repeat=32)
    channels = 3 if mode == "pggan" else 1
    da, db = _reference(real, Stream.SWD_PATCHES_REAL, cfg, channels), _reference(fake, Stream.SWD_PATCHES_FAKE, cfg, channels)
    for li, (a, b) in enumerate(zip(da, db, strict=True)):
        g = torch_generator(cfg.seed, Stream.SWD_DIRECTIONS, li)
        dirs = []
        for _ in range(cfg.repeats):
            d = torch.randn(49 * channels, cfg.dirs_per_repeat, generator=g, dtype=torch.float64)
            dirs.append((d / d.square().sum(0, keepdim=True).sqrt()).numpy())
        expected = ref.swd(ref.normalise(a, channels), ref.normalise(b, channels), dirs)
        assert got[f"swd_l{li}"] == pytest.approx(expected, rel=2e-4)


def test_blur_ranks_and_identical_sets_sit_at_the_floor() -> None:
    real = breast_images(8, seed=1)
    same = _swd(real, real.clone())
    other = _swd(real, breast_images(8, seed=5))
    blur1 = _swd(real, breast_images(8, seed=5, blur=1))
    blur2 = _swd(real, breast_images(8, seed=5, blur=2))
    assert same["swd_avg"] < blur1["swd_avg"] < blur2["swd_avg"]
    assert other["swd_avg"] < blur1["swd_avg"]
    # identical content: only patch sampling noise, the same order as another draw of the distribution
    assert same["swd_avg"] < 2 * other["swd_avg"]


def test_shifted_texture_ranks_below_blurred_texture() -> None:
    real = breast_images(8, seed=1)
    shifted = torch.roll(real, shifts=5, dims=2)  # same texture statistics, moved: SWD is translation-blind
    blurred = breast_images(8, seed=1, blur=1)
    assert _swd(real, shifted)["swd_l0"] < _swd(real, blurred)["swd_l0"]


def test_streaming_equals_in_memory_and_seeds() -> None:
    real, fake = breast_images(6, seed=1), breast_images(5, seed=2)
    one = _swd(real, fake, batch=1)
    allb = _swd(real, fake, batch=16)
    assert one == allb
    assert _swd(real, fake, batch=3, seed=0) == one
    assert _swd(real, fake, seed=1)["swd_avg"] != one["swd_avg"]


def test_patches_equal_the_reference_laplacian_levels_at_odd_sizes() -> None:
    """Each level's descriptors (patches of fine - pyr_up(coarse), computed only at the patches) equal
    the NumPy reference pyramid's patches, at both parities of the patch corner and at odd sizes."""
    from mammoeval.metrics.swd import gaussian_pyramid, laplacian_patches

    x = breast_images(2, height=75, width=61, seed=4)
    n_levels = len(level_sizes(75, 61))
    gauss = gaussian_pyramid(x, n_levels)
    g = torch.Generator().manual_seed(9)
    for i in range(2):
        pyr = ref.pyramid(x[i, 0].double().numpy(), n_levels)
        for li, level in enumerate(pyr):
            ys, xs = sample_patch_centers(*level.shape, 40, patch_size=7, generator=g)
            coarse = gauss[li + 1][i:i + 1] if li + 1 < n_levels else None
            got = laplacian_patches(gauss[li][i:i + 1], coarse, ys[None], xs[None], patch_size=7)[0]
            expected = ref.descriptors(level, ys.numpy(), xs.numpy(), 1)
            assert {int(v) % 2 for v in ys} == {0, 1} and {int(v) % 2 for v in xs} == {0, 1}
            np.testing.assert_allclose(got.double().numpy(), expected, atol=2e-6)


def test_sizes_that_do_not_halve_evenly() -> None:
    assert level_sizes(100, 70) == [(100, 70), (50, 35), (25, 18)]
    assert level_sizes(1280, 1024) == [(1280 // 2 ** i, 1024 // 2 ** i) for i in range(7)]
    real, fake = breast_images(4, height=100, width=70, seed=1), breast_images(4, height=100, width=70, seed=2)
    vals = _swd(real, fake)
    assert set(vals) == {"swd_l0", "swd_l1", "swd_l2", "swd_avg"}
    assert all(np.isfinite(v) and v > 0 for v in vals.values())
    with pytest.raises(ValueError, match="smaller than the SWD minimum"):
        level_sizes(12, 40)


def test_float16_storage_close_to_float32() -> None:
    real, fake = breast_images(6, seed=1), breast_images(6, seed=2, blur=1)
    a = _swd(real, fake, descriptor_dtype="float16")["swd_avg"]
    b = _swd(real, fake, descriptor_dtype="float32")["swd_avg"]
    assert a == pytest.approx(b, rel=0.02)


def test_floor_interval_and_views() -> None:
    real, fake = breast_images(8, seed=1), breast_images(8, seed=2, blur=2)
    m = SWDMetric(SWDSettings(n_bootstrap=30, bootstrap_dirs=16))
    views = torch.tensor([0, 1] * 4)
    m.update(ImageBatch(real, views, [str(i) for i in range(8)]), real=True)
    m.update(ImageBatch(fake, views, [str(i) for i in range(8)]), real=False)
    res = m.compute()
    assert set(res) == {"CC", "MLO", "all"}
    r = res["all"]["swd_avg"]
    assert r.ci is not None and r.ci[0] < r.value < r.ci[1]
    assert r.floor is not None and r.floor < r.value
    assert (r.n_real, r.n_fake) == (8, 8)


def test_too_few_images_in_a_view_is_reported_not_crashed() -> None:
    m = SWDMetric(SWDSettings(n_bootstrap=0))
    x = breast_images(3, seed=1)
    m.update(ImageBatch(x, torch.tensor([0, 0, 1]), ["a", "b", "c"]), real=True)
    m.update(ImageBatch(x, torch.tensor([0, 0, 1]), ["a", "b", "c"]), real=False)
    assert set(m.compute()) == {"CC", "all"}
    assert "too few images" in m.unavailable()["swd/MLO"]


def test_memory_bound_for_two_sets_of_16384_full_size_images() -> None:
    cfg = SWDSettings()
    bound = memory_bound_bytes(16384, 1280, 1024, cfg)
    # 8192 kept images x 7 levels x 128 patches x 49 values x 2 bytes per set, plus one batch
    assert bound < 4 * 2 ** 30
    assert bound > 2 * 8192 * 7 * 128 * 49 * 2
    # plus compute-time working memory: one level of both sets in float32 and 32-direction projections
    assert bound + 2 * 8192 * 128 * 49 * 4 + 2 * 8192 * 128 * 32 * 4 < 4 * 2 ** 30


def test_sliced_wasserstein_is_exact_and_independent_of_chunking_and_threads() -> None:
    """Sorted-L1 sums per direction: equal to a float64 NumPy computation whatever the chunk size or
    thread count (those change only the float32 rounding of the projections), repeatable exactly."""
    from mammoeval.metrics.swd import sliced_wasserstein

    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(500, 49, generator=g), 1.3 * torch.randn(500, 49, generator=g) + 0.2
    dirs = torch.nn.functional.normalize(torch.randn(49, 40, generator=g), dim=0)
    pa, pb = np.sort((a @ dirs).double().numpy(), axis=0), np.sort((b @ dirs).double().numpy(), axis=0)
    expected = float(np.abs(pa - pb).mean())
    before = torch.get_num_threads()
    values = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for chunk in (1, 8 * 500 * 7, 1 << 30):
                values[threads, chunk] = sliced_wasserstein(a, b, dirs, chunk_bytes=chunk)
    finally:
        torch.set_num_threads(before)
    assert list(values.values()) == pytest.approx([expected] * len(values), rel=1e-6)
    assert sliced_wasserstein(a, b, dirs, chunk_bytes=4000) == sliced_wasserstein(a, b, dirs, chunk_bytes=4000)


def test_accelerator_branch_matches_the_cpu_branch() -> None:
    """The torch.sort path used on CUDA gives the NumPy path's per-direction sums (run here on CPU tensors)."""
    from mammoeval.metrics.swd import _project_sorted_abs_diff, _sorted_abs_diff_torch

    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(300, 9, generator=g), torch.randn(300, 9, generator=g) * 2
    rows = torch.nn.functional.normalize(torch.randn(6, 9, generator=g), dim=1)
    expected = _project_sorted_abs_diff(rows.numpy(), a.numpy(), b.numpy())
    assert _sorted_abs_diff_torch(rows @ a.T, rows @ b.T).numpy() == pytest.approx(expected, rel=1e-6)


def _toy_levels(rng: np.random.Generator, n: int, p: int, *, scale: float = 1.0) -> torch.Tensor:
    """[n, p, 9] descriptors: an image effect shared by its patches plus patch noise."""
    return torch.from_numpy((rng.normal(size=(n, 1, 9)) * 0.7 + rng.normal(size=(n, p, 9)) * scale).astype(np.float32))


@pytest.mark.parametrize("sizes", [(24, 24), (24, 20)])
def test_bootstrap_cell_summaries_are_exact_with_one_entry_per_cell(sizes: tuple[int, int]) -> None:
    from mammoeval.metrics.swd import level_swd_with_subsets, plan_subsets

    rng = np.random.default_rng(0)
    real, fake = _toy_levels(rng, sizes[0], 16), _toy_levels(rng, sizes[1], 16, scale=1.3)
    cfg = SWDSettings(dirs_per_repeat=16, repeats=2, bootstrap_dirs=32, n_bootstrap=20, floor_splits=2, patch_size=3,
                      min_size=3)
    plan = plan_subsets(*sizes, settings=cfg, seed=1)
    fast = level_swd_with_subsets(real, fake, plan, settings=cfg, dirs_seed=0, level=0)
    exact = level_swd_with_subsets(real, fake, plan, settings=cfg, dirs_seed=0, level=0, exact_bootstrap=True)
    np.testing.assert_allclose(fast.boot, exact.boot, rtol=1e-5)
    np.testing.assert_array_equal(fast.value, exact.value)
    np.testing.assert_array_equal(fast.floors, exact.floors)


def test_bootstrap_cell_summaries_track_the_exact_replicates(monkeypatch: pytest.MonkeyPatch) -> None:
    from mammoeval.metrics import swd
    from mammoeval.metrics.swd import level_swd_with_subsets, plan_subsets

    # 64 cells of 3072 entries per set: 48 entries per cell, as 32 768 descriptors have in 1024 cells.
    monkeypatch.setattr(swd, "BOOTSTRAP_CELLS", 64)
    monkeypatch.setattr(swd, "BOOTSTRAP_GRID", 128)
    rng = np.random.default_rng(1)
    real, fake = _toy_levels(rng, 48, 64), _toy_levels(rng, 48, 64, scale=1.1)
    cfg = SWDSettings(dirs_per_repeat=16, repeats=2, bootstrap_dirs=16, n_bootstrap=60, floor_splits=1, patch_size=3,
                      min_size=3)
    plan = plan_subsets(48, 48, settings=cfg, seed=2)
    fast = level_swd_with_subsets(real, fake, plan, settings=cfg, dirs_seed=0, level=0).boot
    exact = level_swd_with_subsets(real, fake, plan, settings=cfg, dirs_seed=0, level=0, exact_bootstrap=True).boot
    df, de = fast - fast.mean(), exact - exact.mean()
    assert np.corrcoef(df, de)[0, 1] > 0.98
    assert abs(df.std() / de.std() - 1) < 0.05
