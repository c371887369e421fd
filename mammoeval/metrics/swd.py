"""Multi-scale sliced Wasserstein distance (SWD) over Laplacian pyramids, streaming and seeded.

Algorithm (Karras et al. 2018, "Progressive Growing of GANs", section 5 and appendix D):

1. Each image is decomposed into a Laplacian pyramid with the 5x5 binomial filter
   ([1, 4, 6, 4, 1] / 16, outer product) and reflected borders ("mirror": the edge pixel is not
   repeated), from full resolution down to the last level whose short side is at least 16 px.
   Sizes that do not halve evenly are handled: downsampling keeps every second pixel (ceil(n/2)),
   upsampling crops back to the finer level's size.
2. From every level of every image, 128 random 7x7 neighbourhoods are taken (centres uniform over
   the positions where the patch fits). Each set's descriptors are normalised, per level and per
   channel, by their own mean and standard deviation.
3. Per level, 4 repeats of 128 random unit directions; the projections of both sets are sorted
   and compared by mean absolute difference; repeats are averaged. `swd_avg` is the mean over
   levels. Values are RAW: the paper prints them x1e3 (a display convention, see the CLI table).

Modes: ``native`` (default) uses 1-channel 49-d descriptors. ``pggan`` reproduces the reference
code fed grey images tiled to 3 channels: 147-d descriptors whose channels are identical. It is
computed exactly, without tripling memory, by drawing 147-d unit directions and summing their
three channel blocks (a projection of a tiled descriptor equals the projection of the 49-d one on
the folded direction), so its numbers are comparable with published PGGAN SWDs.

Determinism and streaming: patch centres and the sampling key of image i of a set come from a
generator seeded by (seed, set, i), so feeding batches of 1 or all images gives the same result.

Memory bound: at most `max_images` images per set enter the metric (default 8192, i.e. the whole
set below that size; above it a seeded uniform random subset, chosen by priority sampling on
per-image keys). Descriptors are stored as float16 (2 bytes x 49 per patch). For 1280x1024 the
pyramid has 7 levels, so each set holds 8192 x 7 x 128 x 49 x 2 B = 720 MB once pruned; between
prunings the sample grows to 1.25 x the cap (chunks are concatenated only then, one level at a
time, so streaming never copies quadratically). Two sets of 16384 images therefore need at most
about 1.8 GB for descriptors plus one batch's pyramid and, at compute time, one level's float32
copy of both sets (~0.4 GB) and chunked projections: under 3 GB, inside the 4 GB target
(`memory_bound_bytes`, tested).

Breast-aware mode (``region="breast"``): patch centres are drawn uniformly inside QA's breast
mask (regions.py), downsampled to each level and eroded so that the whole patch and a margin
lie inside the breast; descriptors then describe tissue only, not the zero padding and black
background that fill a large share of whole-image patches. Not comparable with published SWDs.

Unequal set sizes: the larger set is subsampled (by image, seeded) to the smaller one's size.

Real-vs-real floor: the real images of each view are split into two seeded disjoint halves and the
same SWD is computed between them (half-size sets, so the floor is slightly pessimistic).

Bootstrap interval: images of both sets are resampled with replacement (with their descriptors)
and SWD recomputed with one repeat of `bootstrap_dirs` directions; the interval is the observed
value plus the centred 2.5/97.5 % quantiles of the replicates. Above `bootstrap_max_images` images
per set, replicates use that many images and the deviations are scaled by sqrt(m / n)
(m-out-of-n bootstrap) to stay affordable.

References:
    T. Karras, T. Aila, S. Laine, J. Lehtinen. Progressive Growing of GANs for Improved Quality,
    Stability, and Variation. ICLR 2018.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import (
    VIEW_NAMES,
    MetricResult,
    PrioritySample,
    SampledSets,
    ViewResults,
    image_seed,
    too_few_reason,
    view_masks,
)
from mammoeval.metrics.regions import BreastMasker, batch_breast_masks, downsample_mask, erode_mask
from mammoeval.metrics.uncertainty import split_halves

SWDMode = Literal["native", "pggan"]
SWDRegion = Literal["image", "breast"]
DescriptorDtype = Literal["float16", "float32"]
_ROLE_REAL, _ROLE_FAKE = 1, 2


@dataclass(frozen=True)
class SWDSettings:
    """Every knob of the SWD; defaults are the published ones.

    Attributes:
        patches_per_image: 7x7 neighbourhoods per image per level (paper: 128).
        patch_size: neighbourhood side in pixels (paper: 7).
        min_size: the coarsest level's short side is at least this (paper: 16).
        dirs_per_repeat: random unit directions per repeat (paper: 128).
        repeats: repeats of the projection step (paper: 4).
        mode: "native" 1-channel descriptors or "pggan" grey tiled to 3 channels.
        max_images: images per set kept (seeded uniform subset above it); bounds memory.
        descriptor_dtype: storage type of descriptors (float16 halves memory).
        seed: seeds patch positions, image sampling keys, directions and splits.
        region: "image" (PGGAN: centres uniform over the whole image) or "breast" (centres uniform
            over QA's breast mask at each level, eroded so that the patch and `breast_margin_px`
            more pixels lie inside the breast; see `sample_patch_centers_in_mask`).
        breast_margin_px: extra margin, in pixels of each level, between a patch and the skin line.
        n_bootstrap: bootstrap replicates for the interval (0 = none).
        bootstrap_dirs: directions per bootstrap replicate (one repeat).
        bootstrap_max_images: images per set per replicate (m-out-of-n above it).
    """

    patches_per_image: int = 128
    patch_size: int = 7
    min_size: int = 16
    dirs_per_repeat: int = 128
    repeats: int = 4
    mode: SWDMode = "native"
    max_images: int = 8192
    descriptor_dtype: DescriptorDtype = "float16"
    seed: int = 0
    region: SWDRegion = "image"
    breast_margin_px: int = 2
    n_bootstrap: int = 200
    bootstrap_dirs: int = 32
    bootstrap_max_images: int = 256

    def __post_init__(self) -> None:
        if self.patch_size % 2 != 1 or self.patch_size < 1:
            raise ValueError(f"patch_size must be odd, got {self.patch_size}")
        if self.min_size < self.patch_size:
            raise ValueError(f"min_size ({self.min_size}) must be >= patch_size ({self.patch_size})")
        if self.mode not in ("native", "pggan"):
            raise ValueError(f"mode must be 'native' or 'pggan', got {self.mode!r}")
        if self.region not in ("image", "breast"):
            raise ValueError(f"region must be 'image' or 'breast', got {self.region!r}")
        if self.breast_margin_px < 0:
            raise ValueError(f"breast_margin_px must be >= 0, got {self.breast_margin_px}")


# --- pure stages ---------------------------------------------------------------------------------


def level_sizes(height: int, width: int, *, min_size: int = 16) -> list[tuple[int, int]]:
    """Return the (H, W) of every pyramid level, full size first, while the short side is >= `min_size`.

    Raises:
        ValueError: the image itself is smaller than `min_size`.
    """
    if min(height, width) < min_size:
        raise ValueError(f"image {height}x{width} is smaller than the SWD minimum level size {min_size}")
    sizes = [(height, width)]
    while min((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2) >= min_size:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Return the next Gaussian level of float [N, 1, H, W]: binomial blur with reflected borders, every
    second pixel kept ([N, 1, ceil(H/2), ceil(W/2)])."""
    ho, wo = (x.shape[-2] + 1) // 2, (x.shape[-1] + 1) // 2
    xp = F.pad(x, (2, 2, 2, 2), mode="reflect")
    taps = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
    # Strided in-place multiply-adds compute only the kept pixels, separably: several times faster
    # on CPU than a strided conv2d on one-channel images.
    rows = torch.mul(xp[..., :, 0:2 * wo - 1:2], taps[0])
    for k in range(1, 5):
        rows.add_(xp[..., :, k:k + 2 * wo - 1:2], alpha=taps[k])
    out = torch.mul(rows[..., 0:2 * ho - 1:2, :], taps[0])
    for k in range(1, 5):
        out.add_(rows[..., k:k + 2 * ho - 1:2, :], alpha=taps[k])
    return out


def _up_axis(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    # Polyphase form of "insert zeros, blur with 2x the 1-D kernel, reflected borders on the
    # 2n grid": even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8, odd outputs (x[i] + x[i+1]) / 2; the
    # reflection on the zero-interleaved grid means x[-1] = x[1] on the left, x[n] = x[n-1] on the right.
    n = x.shape[dim]
    xp = torch.cat([x.narrow(dim, 1, 1), x, x.narrow(dim, n - 1, 1)], dim=dim)
    left, mid, right = xp.narrow(dim, 0, n), xp.narrow(dim, 1, n), xp.narrow(dim, 2, n)
    even = (left + right + 6.0 * mid) * (1.0 / 8.0)
    odd = (mid + right) * 0.5
    inter = torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)
    return inter.narrow(dim, 0, size)


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Return `x` [N, 1, h, w] upsampled to `size` (<= 2h x 2w): zeros interleaved, blurred by 4x the
    binomial kernel with reflected borders on the 2h x 2w grid, cropped."""
    return _up_axis(_up_axis(x, 3, size[1]), 2, size[0])


def laplacian_pyramid(images: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
    """Return `n_levels` Laplacian levels of float [N, 1, H, W] images (the last is the Gaussian residual)."""
    gauss = [images]
    for _ in range(n_levels - 1):
        gauss.append(pyr_down(gauss[-1]))
    lap = [g - pyr_up(gn, (g.shape[-2], g.shape[-1])) for g, gn in zip(gauss[:-1], gauss[1:], strict=True)]
    return lap + [gauss[-1]]


def gaussian_pyramid(images: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
    """Return `n_levels` Gaussian levels of float [N, 1, H, W] images, full size first."""
    gauss = [images]
    for _ in range(n_levels - 1):
        gauss.append(pyr_down(gauss[-1]))
    return gauss


_UP_WEIGHTS = ((0.125, 0.75, 0.125), (0.0, 0.5, 0.5))
"""Polyphase taps of `pyr_up` on (x[i-1], x[i], x[i+1]) for even and odd output positions."""


def laplacian_patches(fine: torch.Tensor, coarse: torch.Tensor | None, ys: torch.Tensor, xs: torch.Tensor, *,
                      patch_size: int) -> torch.Tensor:
    """Return float [N, P, patch_size**2] neighbourhoods of the Laplacian level ``fine - pyr_up(coarse)``.

    Equal to `extract_patches` on `laplacian_pyramid`'s level, but only the patch pixels of the
    upsampled coarse level are computed (a 3x3 polyphase gather per pixel), so no full-resolution
    Laplacian image is ever formed. `coarse` None means the last (Gaussian residual) level.
    """
    patches = extract_patches(fine, ys, xs, patch_size=patch_size)
    if coarse is None:
        return patches
    r = patch_size // 2
    dev, dt = fine.device, fine.dtype
    # Borders of pyr_up: x[-1] = x[1] on the left/top, x[n] = x[n-1] on the right/bottom.
    c = coarse[:, 0]
    c = torch.cat([c[:, 1:2], c, c[:, -1:]], dim=1)
    c = torch.cat([c[:, :, 1:2], c, c[:, :, -1:]], dim=2)
    # The patch's rows cy-r..cy+r read padded coarse rows (cy-r)//2 .. (cy-r)//2 + r + 2; the
    # upsampling is then a fixed [S, r+3] matrix per parity of cy-r, applied on both sides. Both
    # parities are applied to every window with one flat matrix product per side (a batched product
    # of tiny matrices costs several times more) and each patch keeps its own parity's result.
    span = r + 3
    m = _up_matrices(patch_size, dt, dev).reshape(2 * patch_size, span)  # parity 0 rows, then parity 1
    ys, xs = ys.to(dev), xs.to(dev)
    n, p = ys.shape
    window = _gather_windows(c, (ys - r) // 2, (xs - r) // 2, torch.arange(span, device=dev))  # [N, P, span, span]
    cols = (m @ window.reshape(n * p, span, span).permute(1, 0, 2).reshape(span, -1)).view(2, patch_size, n * p, span)
    rows = torch.where(((ys - r) % 2).bool().reshape(1, -1, 1), cols[1], cols[0])  # [S, N*P, span]
    both = (rows.reshape(-1, span) @ m.T).view(patch_size, n * p, 2, patch_size)
    up = torch.where(((xs - r) % 2).bool().reshape(1, -1, 1), both[:, :, 1], both[:, :, 0])  # [S, N*P, S]
    return patches - up.permute(1, 0, 2).reshape(n, p, patch_size * patch_size)


def _up_matrices(patch_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Return [2, S, r+3] matrices mapping a coarse window to S upsampled samples, for start parity 0 and 1."""
    return _up_matrices_f64(patch_size).to(device, dtype)


@functools.lru_cache(maxsize=8)
def _up_matrices_f64(patch_size: int) -> torch.Tensor:
    """Return `_up_matrices` in float64 on the CPU, built once per patch size (never modified in place)."""
    r = patch_size // 2
    m = torch.zeros(2, patch_size, r + 3, dtype=torch.float64)
    for t in range(2):
        for y in range(patch_size):
            base = (t + y) // 2
            for a, wgt in enumerate(_UP_WEIGHTS[(t + y) % 2]):
                m[t, y, base + a] += wgt
    return m


def sample_patch_centers(height: int, width: int, n: int, *, patch_size: int,
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return int64 [n] row and column centres where a `patch_size` square fits (uniform)."""
    r = patch_size // 2
    ys = torch.randint(r, height - r, (n,), generator=generator)
    xs = torch.randint(r, width - r, (n,), generator=generator)
    return ys, xs


def sample_patch_centers_in_mask(mask: torch.Tensor, n: int, *, patch_size: int, margin_px: int,
                                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return int64 [n] row and column centres drawn uniformly (with replacement) inside a region.

    Candidates: centres where the `patch_size` square fits the image and the square grown by
    `margin_px` lies inside `mask`; when none is left (a small breast at a coarse level) the
    centres where the patch fits and the centre lies in `mask`; when `mask` is empty, the whole
    image (`sample_patch_centers`).

    Args:
        mask: bool [H, W] region (the breast at this level).
    """
    h, w = mask.shape
    r = patch_size // 2
    fits = torch.zeros(h, w, dtype=torch.bool)
    fits[r:h - r, r:w - r] = True
    m = mask.bool()[None, None]
    for candidate in (erode_mask(m, r + margin_px)[0, 0] & fits, m[0, 0] & fits):
        idx = candidate.flatten().nonzero().flatten()
        if idx.numel():
            pick = idx[torch.randint(0, idx.numel(), (n,), generator=generator)]
            return pick // w, pick % w
    return sample_patch_centers(h, w, n, patch_size=patch_size, generator=generator)


def extract_patches(level: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, *, patch_size: int) -> torch.Tensor:
    """Return float [N, P, patch_size**2] neighbourhoods of `level` [N, 1, H, W] at centres `ys`, `xs` [N, P]."""
    r = patch_size // 2
    off = torch.arange(patch_size, device=level.device)
    return _gather_windows(level[:, 0], ys.to(level.device) - r, xs.to(level.device) - r, off).flatten(2)


def _gather_windows(planes: torch.Tensor, top: torch.Tensor, left: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
    """Return [N, P, S, S] windows of `planes` [N, H, W] whose top-left corners are `top`, `left` [N, P].

    `off` is arange(S). One flat `take` (a single int64 index per pixel) is several times faster on
    CPU than advanced indexing with three broadcast index tensors.
    """
    n, h, w = planes.shape
    base = (torch.arange(n, device=planes.device) * (h * w))[:, None] + top * w + left  # [N, P]
    idx = base[:, :, None, None] + (off * w)[:, None] + off  # [N, P, S, S]
    return planes.reshape(-1).take(idx)


def normalize_descriptors(desc: torch.Tensor) -> torch.Tensor:
    """Return float32 descriptors [M, D] minus their mean, divided by their std (population, over all elements).

    With one channel this is the reference's per-channel normalisation; in "pggan" mode the three
    channels are identical, so it is the same too.
    """
    d = desc.to(torch.float32)
    n = d.numel()
    # float64 sums of x and x^2: exact enough here and several times faster than torch.std_mean
    # (on CPU NumPy's float64-accumulating sum of float32 is again ~10x faster than torch's)
    if d.device.type == "cpu":
        x = d.numpy()
        mean_f = float(x.sum(dtype=np.float64)) / n
        var_f = float(np.square(x).sum(dtype=np.float64)) / n - mean_f * mean_f
        std_f = max(math.sqrt(max(var_f, 0.0)), 1e-12)
        return (d - mean_f) / std_f
    mean = d.sum(dtype=torch.float64) / n
    var = (d * d).sum(dtype=torch.float64) / n - mean * mean
    std = var.clamp_min(0).sqrt().clamp_min(1e-12)
    return (d - mean.to(torch.float32)) / std.to(torch.float32)


def draw_directions(dim: int, n: int, *, mode: SWDMode, generator: torch.Generator) -> torch.Tensor:
    """Return float32 [dim, n] projection directions for `dim`-d 1-channel descriptors.

    native: unit Gaussian directions in `dim` dimensions. pggan: unit directions in 3*dim
    dimensions (the tiled descriptor), folded by summing the three channel blocks, which gives
    identical projections for tiled descriptors.
    """
    full = 3 * dim if mode == "pggan" else dim
    dirs = torch.randn(full, n, generator=generator, dtype=torch.float64)
    dirs = dirs / dirs.square().sum(0, keepdim=True).sqrt()
    if mode == "pggan":
        dirs = dirs.view(3, dim, n).sum(0)
    return dirs.to(torch.float32)


PROJECTION_CHUNK_BYTES = 128 << 20
"""Bytes of float32 projections (both sets, all workers together) that `sliced_wasserstein` holds at once."""


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, dirs: torch.Tensor, *,
                       chunk_bytes: int = PROJECTION_CHUNK_BYTES) -> float:
    """Return the mean absolute difference of the sorted projections of `a` and `b` on `dirs`.

    Each direction's sum of absolute differences is taken separately (float64) and the sums are
    added in direction order, so the chunking and the thread count change only the float32 rounding
    of the projections (< 1e-6 relative); a repeated call gives the same value exactly.

    Args:
        a, b: float32 normalised descriptors [M, D] (the same M).
        dirs: float32 [D, K] directions.
        chunk_bytes: memory for the projections that exist at once (both sets, all workers). On CPU,
            `torch.get_num_threads()` worker threads each project a chunk of directions with NumPy's
            BLAS (held to one thread, so BLAS threads never spin against the sorts) and sort it with
            NumPy (which releases the GIL and sorts several times faster than torch.sort on CPU).
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"both sets need the same number of descriptors, got {a.shape[0]} and {b.shape[0]}")
    m, k = a.shape[0], dirs.shape[1]
    rows = dirs.T.contiguous()  # [K, D]: each direction's projections come out contiguous, which sorts fastest
    if a.device.type != "cpu":
        chunk = max(1, min(k, chunk_bytes // (8 * max(m, 1))))
        sums = [_sorted_abs_diff_torch(d @ a.T, d @ b.T) for d in rows.split(chunk)]
        return float(torch.cat(sums).sum()) / (m * k)
    return float(_cpu_direction_sums(rows.numpy(), a.numpy(), b.numpy(), chunk_bytes=chunk_bytes).sum()) / (m * k)


def _sorted_abs_diff_torch(pa: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
    """Return float64 [k]: per row, the sum of |sorted(pa) - sorted(pb)| (rows [k, M] on any device)."""
    return (torch.sort(pa, dim=1).values - torch.sort(pb, dim=1).values).abs().sum(1, dtype=torch.float64).cpu()


def _project_sorted_abs_diff(rows: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return float64 [k]: per direction (row of `rows` [k, D]), the sum of |sorted(a @ d) - sorted(b @ d)|."""
    pa, pb = rows @ a.T, rows @ b.T
    pa.sort(axis=1)
    pb.sort(axis=1)
    np.subtract(pa, pb, out=pa)
    np.abs(pa, out=pa)
    return pa.sum(axis=1, dtype=np.float64)


def _cpu_direction_sums(rows: np.ndarray, a: np.ndarray, b: np.ndarray, *, chunk_bytes: int) -> np.ndarray:
    """Return float64 [K]: each direction's sum of absolute sorted differences (NumPy arrays).

    The directions are cut into at least 4 chunks per worker (so the workers finish together) of at
    most `chunk_bytes / workers` bytes of projections each; each worker projects and sorts whole chunks.
    BLAS is limited to one thread meanwhile: OpenBLAS's own threads would otherwise spin-wait on
    the cores the sorting workers need (measured: 1.5x slower in total).
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    k, m = rows.shape[0], a.shape[0]
    workers = max(1, torch.get_num_threads())
    per_task = max(1, min(-(-k // (4 * workers)), chunk_bytes // (8 * max(m, 1) * workers)))
    chunks = [rows[s:s + per_task] for s in range(0, k, per_task)]
    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1 or len(chunks) == 1:
            return np.concatenate([_project_sorted_abs_diff(d, a, b) for d in chunks])
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return np.concatenate(list(pool.map(lambda d: _project_sorted_abs_diff(d, a, b), chunks)))


def swd_per_level(levels_a: list[torch.Tensor], levels_b: list[torch.Tensor], *, settings: SWDSettings,
                  dirs_seed: int, repeats: int | None = None, dirs_per_repeat: int | None = None) -> list[float]:
    """Return the SWD per level between two sets' raw descriptors (each [M, D] per level, same M).

    Each set is normalised by its own mean and std per level; directions come from a generator
    seeded by (`dirs_seed`, level).
    """
    repeats = settings.repeats if repeats is None else repeats
    k = settings.dirs_per_repeat if dirs_per_repeat is None else dirs_per_repeat
    out = []
    for lvl, (a, b) in enumerate(zip(levels_a, levels_b, strict=True)):
        na, nb = normalize_descriptors(a), normalize_descriptors(b)
        g = torch.Generator().manual_seed(image_seed(dirs_seed, 7, lvl))
        # The repeats' directions in one call (the same draws, in order): every repeat has k directions,
        # so the mean over all of them is the mean of the repeats' values, and the CPU path can
        # project one chunk while it sorts the previous one.
        dirs = torch.cat([draw_directions(a.shape[1], k, mode=settings.mode, generator=g) for _ in range(repeats)], 1)
        out.append(sliced_wasserstein(na, nb, dirs.to(na.device)))
    return out


def memory_bound_bytes(n_images_per_set: int, height: int, width: int, settings: SWDSettings = SWDSettings(),
                       *, batch_size: int = 16) -> int:
    """Return an upper bound of the bytes the SWD state holds for two sets of `n_images_per_set` images."""
    n_levels = len(level_sizes(height, width, min_size=settings.min_size))
    # PrioritySample holds at most cap + cap // 4 images before it prunes back to cap, plus one batch.
    kept = min(n_images_per_set, settings.max_images + settings.max_images // 4) + batch_size
    per_image = n_levels * settings.patches_per_image * settings.patch_size ** 2 * (
        2 if settings.descriptor_dtype == "float16" else 4) + 16
    batch_pyramid = batch_size * height * width * 4 * 4  # image, Gaussian and Laplacian levels, float32
    return 2 * kept * per_image + batch_pyramid


# --- streaming metric ----------------------------------------------------------------------------


class SWDMetric(SampledSets):
    """Streaming multi-scale SWD between the real and the generated set, per view.

    Result keys: ``swd_avg`` and ``swd_l0`` ... ``swd_l{L-1}`` (l0 = full resolution; the
    resolution of level i is ceil(H / 2**i) x ceil(W / 2**i)).
    """

    name = "swd"

    def __init__(self, settings: SWDSettings = SWDSettings(), *, device: str | torch.device = "cpu",
                 breast_masker: BreastMasker | None = None) -> None:
        self.cfg = settings
        self.device = torch.device(device)
        self.breast_masker = breast_masker
        self.reset()

    def reset(self) -> None:
        """Forget both sets."""
        self._sets = {True: PrioritySample(self.cfg.max_images), False: PrioritySample(self.cfg.max_images)}
        self._size: tuple[int, int] | None = None

    def reset_fake(self) -> None:
        """Forget the generated set only (score the next checkpoint against the same real set)."""
        self._sets[False] = PrioritySample(self.cfg.max_images)

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the real-side state."""
        s = asdict(self.cfg)
        for k in ("n_bootstrap", "bootstrap_dirs", "bootstrap_max_images"):
            s.pop(k)
        return s

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Add the descriptors of a batch of real or generated images."""
        images = batch.images.to(self.device, torch.float32)
        h, w = images.shape[-2:]
        if self._size is None:
            self._size = (h, w)
        elif self._size != (h, w):
            raise ValueError(f"all images must share one size, got {h}x{w} after {self._size[0]}x{self._size[1]}")
        sizes = level_sizes(h, w, min_size=self.cfg.min_size)
        store = self._sets[real]
        role = _ROLE_REAL if real else _ROLE_FAKE
        n = images.shape[0]
        gens = [torch.Generator().manual_seed(image_seed(self.cfg.seed, role, store.n_seen + i)) for i in range(n)]
        keys = torch.tensor([float(torch.rand(1, generator=g, dtype=torch.float64)) for g in gens],
                            dtype=torch.float64)
        gauss = gaussian_pyramid(images, len(sizes))
        dtype = torch.float16 if self.cfg.descriptor_dtype == "float16" else torch.float32
        masks = None
        if self.cfg.region == "breast":
            masks = batch_breast_masks(batch, self.breast_masker)
        new_desc = []
        for li, level in enumerate(gauss):
            lh, lw = level.shape[-2:]
            centres = self._centres(lh, lw, gens, masks)
            ys = torch.stack([c[0] for c in centres])
            xs = torch.stack([c[1] for c in centres])
            coarse = gauss[li + 1] if li + 1 < len(gauss) else None
            new_desc.append(laplacian_patches(level, coarse, ys, xs, patch_size=self.cfg.patch_size).to("cpu", dtype))
        fields = {f"l{i}": d for i, d in enumerate(new_desc)}
        fields["views"] = batch.views.cpu().to(torch.int64)
        store.add(fields, keys)

    def _centres(self, height: int, width: int, gens: list[torch.Generator],
                 masks: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Return each image's patch centres at one level (whole image, or inside its breast mask)."""
        n, p = self.cfg.patches_per_image, self.cfg.patch_size
        if masks is None:
            return [sample_patch_centers(height, width, n, patch_size=p, generator=g) for g in gens]
        level_masks = downsample_mask(masks, (height, width))[:, 0]
        return [sample_patch_centers_in_mask(m, n, patch_size=p, margin_px=self.cfg.breast_margin_px, generator=g)
                for m, g in zip(level_masks, gens, strict=True)]

    # --- real-side state for the cache ---

    def real_state(self) -> dict[str, Any]:
        """Return the real set's sampled descriptors, keys and views (tensors) and the image size."""
        return {"sample": self._sets[True].state(), "size": list(self._size) if self._size else None}

    def load_real_state(self, state: dict[str, Any]) -> None:
        """Restore the real set saved by `real_state`."""
        self._sets[True] = PrioritySample.from_state(state["sample"])
        if state["size"] is not None:
            self._size = (int(state["size"][0]), int(state["size"][1]))

    # --- results ---

    def _view_desc(self, real: bool, mask_view: str) -> list[torch.Tensor]:
        s = self._sets[real]
        if len(s) == 0:
            return []
        keep = view_masks(s.get("views"))[mask_view]
        n_levels = sum(1 for name in s.chunks if name.startswith("l"))
        if bool(keep.all()):
            return [s.get(f"l{i}") for i in range(n_levels)]  # no copy for "all" (memory bound)
        return [s.get(f"l{i}")[keep] for i in range(n_levels)]

    def unavailable(self) -> dict[str, str]:
        """Return ``{"swd/<view>": reason}`` for views with too few images."""
        return self._too_few("swd")

    def compute(self) -> ViewResults:
        """Return ``{view: {"swd_avg": ..., "swd_l0": ..., ...}}`` with intervals and real-vs-real floors."""
        out: ViewResults = {}
        for v in VIEW_NAMES:
            real, fake = self._view_desc(True, v), self._view_desc(False, v)
            if not real or not fake or too_few_reason(real[0].shape[0], fake[0].shape[0]):
                continue
            out[v] = self._compute_view(real, fake, view_index=VIEW_NAMES.index(v))
        return out

    def _compute_view(self, real: list[torch.Tensor], fake: list[torch.Tensor], *, view_index: int) -> dict[str, MetricResult]:
        n_real, n_fake = real[0].shape[0], fake[0].shape[0]
        vals = self._swd_groups(real, fake, sub_seed=view_index)
        a_idx, b_idx = split_halves(n_real, seed=image_seed(self.cfg.seed, 11, view_index))
        floor = self._swd_groups([d[a_idx] for d in real], [d[b_idx] for d in real], sub_seed=100 + view_index) \
            if len(a_idx) >= 1 and n_real >= 2 else None
        cis = self._bootstrap(real, fake, vals, view_index=view_index)
        res = {}
        for i, val in enumerate(vals + [float(np.mean(vals))]):
            key = f"swd_l{i}" if i < len(vals) else "swd_avg"
            fl = None if floor is None else (floor[i] if i < len(vals) else float(np.mean(floor)))
            res[key] = MetricResult(val, None if cis is None else cis[i], fl, n_real, n_fake)
        return res

    def _equalise(self, a: list[torch.Tensor], b: list[torch.Tensor], seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        na, nb = a[0].shape[0], b[0].shape[0]
        if na == nb:
            return a, b
        g = torch.Generator().manual_seed(seed)
        m = min(na, nb)
        if na > nb:
            idx = torch.sort(torch.randperm(na, generator=g)[:m]).values
            return [d[idx] for d in a], b
        idx = torch.sort(torch.randperm(nb, generator=g)[:m]).values
        return a, [d[idx] for d in b]

    def _swd_groups(self, a: list[torch.Tensor], b: list[torch.Tensor], *, sub_seed: int,
                    repeats: int | None = None, dirs_per_repeat: int | None = None, dirs_seed: int | None = None) -> list[float]:
        a, b = self._equalise(a, b, image_seed(self.cfg.seed, 13, sub_seed))
        flat_a = [d.reshape(-1, d.shape[-1]).to(self.device) for d in a]
        flat_b = [d.reshape(-1, d.shape[-1]).to(self.device) for d in b]
        return swd_per_level(flat_a, flat_b, settings=self.cfg,
                             dirs_seed=self.cfg.seed if dirs_seed is None else dirs_seed,
                             repeats=repeats, dirs_per_repeat=dirs_per_repeat)

    def _bootstrap(self, real: list[torch.Tensor], fake: list[torch.Tensor], vals: list[float], *,
                   view_index: int) -> list[tuple[float, float]] | None:
        b = self.cfg.n_bootstrap
        n_real, n_fake = real[0].shape[0], fake[0].shape[0]
        if b <= 0 or min(n_real, n_fake) < 2:
            return None
        m_real, m_fake = min(n_real, self.cfg.bootstrap_max_images), min(n_fake, self.cfg.bootstrap_max_images)
        rng = np.random.default_rng(image_seed(self.cfg.seed, 17, view_index))
        reps = []
        for r in range(b):
            ir = torch.from_numpy(rng.integers(0, n_real, size=m_real))
            jf = torch.from_numpy(rng.integers(0, n_fake, size=m_fake))
            per = self._swd_groups([d[ir] for d in real], [d[jf] for d in fake], sub_seed=1000 + r, repeats=1,
                                   dirs_per_repeat=self.cfg.bootstrap_dirs,
                                   dirs_seed=image_seed(self.cfg.seed, 19, r))
            reps.append(per + [float(np.mean(per))])
        arr = np.asarray(reps)
        dev = arr - arr.mean(0, keepdims=True)
        scale = math.sqrt(min(m_real, m_fake) / min(n_real, n_fake))
        lo, hi = np.quantile(dev, [0.025, 0.975], axis=0) * scale
        full = vals + [float(np.mean(vals))]
        return [(full[i] + float(lo[i]), full[i] + float(hi[i])) for i in range(len(full))]
