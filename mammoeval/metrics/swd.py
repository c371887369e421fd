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
generator on stream `Stream.SWD_PATCHES_REAL` or `_FAKE` of the seed, item i (`mammoeval.core.seeding`), so
feeding batches of 1 or all images gives the same result.

Memory bound: at most `max_images` images per set enter the metric (default 8192, i.e. the whole
set below that size; above it a seeded uniform random subset, chosen by priority sampling on
per-image keys). Descriptors are stored as float16 (2 bytes x 49 per patch). For 1280x1024 the
pyramid has 7 levels, so each set holds 8192 x 7 x 128 x 49 x 2 B = 720 MB once pruned; between
prunings the sample grows to 1.25 x the cap (chunks are concatenated only then, one level at a
time, so streaming never copies quadratically). Two sets of 16384 images therefore need at most
about 1.8 GB for descriptors plus one batch's pyramid and, at compute time, one level's float32
copy of both sets (~0.4 GB) and chunked projections: under 3 GB, inside the 4 GB target
(`memory_bound_bytes`, tested).

Sample-size protocol (uncertainty.py). Value: on equal-size sets of m = min(n_real, n_fake) images
(the larger set subsampled by image, averaged over `floor_splits` seeded draws). Floor: the same SWD
between two disjoint real subsets of m images, averaged over `floor_splits` splits, with their
standard deviation. When the real set holds fewer than 2m images the floor uses floor(n_real / 2)
and `matched_value` holds the value at that size too (both sets subsampled), for the ratio.

Breast-aware mode (``region="breast"``): patch centres are drawn uniformly inside QA's breast
mask (regions.py), downsampled to each level and eroded so that the whole patch and a margin
lie inside the breast; descriptors then describe tissue only, not the zero padding and black
background that fill a large share of whole-image patches. Not comparable with published SWDs.


Interval: images of both sets are resampled with replacement (`bootstrap_max_images` per set at
most: m-out-of-n, deviations scaled by sqrt(m_boot / m)); the interval is the value plus the
centred 2.5/97.5 % quantiles of the replicates (uncertainty.centred_interval). A replicate's SWD
is computed from cell summaries of the sorted projections (weight and mean of the replicate's
entries in each of `BOOTSTRAP_CELLS` equal-rank cells, compared at `BOOTSTRAP_GRID` quantile
levels; `_bootstrap_sums`): exact for small sets, and at 32 768 descriptors per set its
deviations track the exact replicates' to a correlation of 0.999 (benchmarks/metrics.py).

Cost: every set is projected once per level (`level_swd_with_subsets`); value draws, floors and
matched draws sort their own subsets of those projections; bootstrap replicates are one matrix
product of per-image cell summaries of one tagged sort; no descriptor is ever recomputed.

References:
    T. Karras, T. Aila, S. Laine, J. Lehtinen. Progressive Growing of GANs for Improved Quality,
    Stability, and Variation. ICLR 2018.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from mammoeval.core.seeding import Stream, stream_seed, torch_generator
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import (
    MetricResult,
    PrioritySample,
    SampledSets,
    ViewResults,
    too_few_reason,
    view_masks,
)
from mammoeval.metrics.keys import KEY_SWD_AVG, KEY_SWD_AVG_BREAST, SWD_BREAST_LEVEL_PREFIX, SWD_LEVEL_PREFIX
from mammoeval.metrics.regions import BreastMasker, batch_breast_masks, downsample_mask, erode_mask
from mammoeval.metrics.uncertainty import (
    DEFAULT_FLOOR_SPLITS,
    centred_interval,
    floor_size,
    matched_splits,
    summarise_floor,
)

SWDMode = Literal["native", "pggan"]
SWDRegion = Literal["image", "breast"]
DescriptorDtype = Literal["float16", "float32"]


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
        floor_splits: real-vs-real splits per floor (and subsamples of the value when the sets differ in size).
        floor_dirs: directions per floor split (the first of the value's; same expectation, less work).
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
    floor_splits: int = DEFAULT_FLOOR_SPLITS
    floor_dirs: int = 128

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


SMALL_PROBLEM_BYTES = 4 << 20
"""Below this much projection data `level_swd_with_subsets` works in one chunk on one thread."""

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

    Each set is normalised by its own mean and std per level; directions come from stream
    `Stream.SWD_DIRECTIONS` of `dirs_seed`, item level.
    """
    repeats = settings.repeats if repeats is None else repeats
    k = settings.dirs_per_repeat if dirs_per_repeat is None else dirs_per_repeat
    out = []
    for lvl, (a, b) in enumerate(zip(levels_a, levels_b, strict=True)):
        na, nb = normalize_descriptors(a), normalize_descriptors(b)
        g = torch_generator(dirs_seed, Stream.SWD_DIRECTIONS, lvl)
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

    def __init__(self, settings: SWDSettings = SWDSettings(), *, device: str | torch.device = "cpu",
                 breast_masker: BreastMasker | None = None) -> None:
        self.name = "swd" if settings.region == "image" else "swd_breast"
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
        stream = Stream.SWD_PATCHES_REAL if real else Stream.SWD_PATCHES_FAKE
        n = images.shape[0]
        gens = [torch_generator(self.cfg.seed, stream, store.n_seen + i) for i in range(n)]
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
        return self._too_few(self.name)

    def compute(self) -> ViewResults:
        """Return ``{view: {"swd_avg": ..., "swd_l0": ..., ...}}`` with intervals and real-vs-real floors."""
        def one(view: str, index: int) -> dict[str, MetricResult] | None:
            real, fake = self._view_desc(True, view), self._view_desc(False, view)
            if not real or not fake or too_few_reason(real[0].shape[0], fake[0].shape[0]):
                return None
            return self._compute_view(real, fake, view_index=index)

        return self._per_view(one)

    def _compute_view(self, real: list[torch.Tensor], fake: list[torch.Tensor], *, view_index: int) -> dict[str, MetricResult]:
        return swd_results(real, fake, settings=self.cfg, seed=stream_seed(self.cfg.seed, Stream.SWD_SUBSETS, view_index))

    def _equalise(self, a: list[torch.Tensor], b: list[torch.Tensor], index: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        na, nb = a[0].shape[0], b[0].shape[0]
        if na == nb:
            return a, b
        g = torch_generator(self.cfg.seed, Stream.SWD_EQUALISE, index)
        m = min(na, nb)
        if na > nb:
            idx = torch.sort(torch.randperm(na, generator=g)[:m]).values
            return [d[idx] for d in a], b
        idx = torch.sort(torch.randperm(nb, generator=g)[:m]).values
        return a, [d[idx] for d in b]

    def _swd_groups(self, a: list[torch.Tensor], b: list[torch.Tensor], *, sub_seed: int,
                    repeats: int | None = None, dirs_per_repeat: int | None = None, dirs_seed: int | None = None) -> list[float]:
        a, b = self._equalise(a, b, sub_seed)
        flat_a = [d.reshape(-1, d.shape[-1]).to(self.device) for d in a]
        flat_b = [d.reshape(-1, d.shape[-1]).to(self.device) for d in b]
        return swd_per_level(flat_a, flat_b, settings=self.cfg,
                             dirs_seed=self.cfg.seed if dirs_seed is None else dirs_seed,
                             repeats=repeats, dirs_per_repeat=dirs_per_repeat)


# --- value, floors and interval from one sort per level ----------------------------------------


@dataclass(frozen=True)
class SubsetPlan:
    """The image multisets one SWD computation compares, as per-image counts (0 = left out).

    Attributes:
        value: (real counts [n_real], fake counts [n_fake]) per draw of the equal-size value (one
            draw when the sets have one size; else the larger set is subsampled, `floor_splits` draws).
        floors: (real counts, real counts) of two disjoint real subsets per split.
        boot: (real counts, fake counts) per bootstrap replicate (draws with replacement).
        boot_scale: sqrt(m_boot / m), the m-out-of-n scaling of the bootstrap deviations.
        floor_size: images in each floor subset.
        matched: (real counts, fake counts) of `floor_size` images each, per draw, when the floor is
            smaller than the value's size (too few reals); empty otherwise.
    """

    value: list[tuple[np.ndarray, np.ndarray]]
    floors: list[tuple[np.ndarray, np.ndarray]]
    boot: list[tuple[np.ndarray, np.ndarray]]
    boot_scale: float
    floor_size: int
    matched: list[tuple[np.ndarray, np.ndarray]]


def _counts(n: int, idx: np.ndarray) -> np.ndarray:
    return np.bincount(idx, minlength=n).astype(np.int64)


def plan_subsets(n_real: int, n_fake: int, *, settings: SWDSettings, seed: int) -> SubsetPlan:
    """Return the seeded subsets of the value draws, the matched floors and the bootstrap replicates."""
    rng = np.random.default_rng(seed)
    m = min(n_real, n_fake)
    n_draws = 1 if n_real == n_fake else settings.floor_splits
    value = []
    for _ in range(max(1, n_draws)):
        ir = np.arange(n_real) if n_real == m else rng.choice(n_real, m, replace=False)
        jf = np.arange(n_fake) if n_fake == m else rng.choice(n_fake, m, replace=False)
        value.append((_counts(n_real, ir), _counts(n_fake, jf)))
    floors = [(_counts(n_real, a), _counts(n_real, b)) for a, b in
              matched_splits(n_real, m, n_splits=settings.floor_splits, seed=int(rng.integers(1 << 62)))]
    mb = min(m, settings.bootstrap_max_images)
    boot = [(_counts(n_real, rng.integers(0, n_real, mb)), _counts(n_fake, rng.integers(0, n_fake, mb)))
            for _ in range(settings.n_bootstrap if m >= 2 else 0)]
    fs = floor_size(n_real, m)
    matched = [(_counts(n_real, rng.choice(n_real, fs, replace=False)), _counts(n_fake, rng.choice(n_fake, fs, replace=False)))
               for _ in range(settings.floor_splits)] if floors and fs < m else []
    return SubsetPlan(value, floors, boot, math.sqrt(mb / m) if m else 1.0, fs, matched)


@dataclass(frozen=True)
class LevelSWD:
    """One level's SWDs: per value draw, per floor split, per bootstrap replicate and per matched-size draw."""

    value: np.ndarray
    floors: np.ndarray
    boot: np.ndarray
    matched: np.ndarray


_IMG_BITS = 24


def _sorted_tagged(proj: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (sorted values [k, M] float32, their image index [k, M] int32) of projections [k, M].

    Each float32 is mapped to an order-preserving int32 (negative floats: all bits but the sign
    flipped) and packed with its image index into one int64 key, so one plain sort (much faster
    than argsort) yields both, exactly.
    """
    bits = proj.view(np.int32)
    keys = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).astype(np.int64)
    keys <<= _IMG_BITS
    keys |= images[None, :]
    keys.sort(axis=1)
    img = (keys & ((1 << _IMG_BITS) - 1)).astype(np.int32)
    hi = (keys >> _IMG_BITS).astype(np.int32)
    hi ^= (hi >> 31) & 0x7FFFFFFF
    return hi.view(np.float32), img


def _multiset(vals: np.ndarray, img: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return the sorted projections [k, M'] of the image multiset `counts` (filter, or repeat for counts > 1)."""
    top = int(counts.max())
    if top <= 1:  # a filter: np.compress on a byte mask is several times faster than boolean indexing
        return np.compress(np.take(counts.astype(bool), img).ravel(), vals.ravel()).reshape(vals.shape[0], -1)
    c = np.take(counts.astype(np.uint8) if top <= 255 else counts, img)
    return np.repeat(vals.ravel(), c.ravel()).reshape(vals.shape[0], -1)


BOOTSTRAP_CELLS = 1024
"""Equal-rank cells per set and direction in which a bootstrap replicate's sorted projections are summarised."""

BOOTSTRAP_GRID = 2048
"""Quantile levels at which two replicates' summarised distributions are compared."""

BOOTSTRAP_CELL_BYTES = 64 << 20
"""Bytes of per-image cell summaries (one set, counts and sums) that exist at once per worker."""


def _cell_summaries(vals: np.ndarray, img: np.ndarray, n_images: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Return per-image (counts, sums) float32 [k * cells, n_images] of sorted projections [k, M] in `cells`
    equal-rank cells per direction (direction-major rows)."""
    k, m = vals.shape
    cell = (np.arange(m, dtype=np.int64) * cells) // m
    # Consecutive sorted entries share a cell, so this layout keeps the scatter within one row at a time.
    idx = (((np.arange(k, dtype=np.int64) * cells)[:, None] + cell) * n_images + img).ravel()
    size = n_images * k * cells
    counts = np.bincount(idx, minlength=size).astype(np.float32).reshape(k * cells, n_images)
    sums = np.bincount(idx, weights=vals.ravel(), minlength=size).astype(np.float32).reshape(k * cells, n_images)
    return counts, sums


def _grid_quantiles(weights: np.ndarray, positions: np.ndarray, total: float, grid: int) -> np.ndarray:
    """Return [R, grid] values of the discrete distributions (atoms [R, cells] in ascending order, weights
    summing to `total` per row) at the quantile levels (j + 1/2) / grid: per level, the first atom whose
    cumulative weight exceeds it."""
    rows, cells = weights.shape
    cum = np.cumsum(weights, axis=1)
    # levels from which atom g is passed: ceil(cum * grid / total - 1/2), within [0, grid]
    first_level = np.clip(np.ceil(cum * np.float32(grid / total) - np.float32(0.5)), 0, grid).astype(np.intp)
    first_level += (np.arange(rows, dtype=np.intp) * (grid + 1))[:, None]
    hist = np.bincount(first_level.ravel(), minlength=rows * (grid + 1)).reshape(rows, grid + 1)[:, :grid]
    atom = np.cumsum(hist, axis=1, dtype=np.int32)
    np.minimum(atom, cells - 1, out=atom)
    return np.take_along_axis(positions, atom, axis=1)


def _bootstrap_sums(real: tuple[np.ndarray, np.ndarray], fake: tuple[np.ndarray, np.ndarray], plan: SubsetPlan,
                    aff_real: np.ndarray, aff_fake: np.ndarray, colsum: np.ndarray) -> np.ndarray:
    """Return float64 [B, k]: per bootstrap replicate and direction, the sum of |normalised real - normalised
    fake| over the m_boot x P matched quantiles, from the cell summaries of sorted tagged projections.

    A replicate's multiset (per-image counts) is summarised exactly by its weight and mean in every
    cell of the full set's sorted order (`_cell_summaries`, one matrix product per set); the two
    summaries, each normalised by the replicate's own mean and std, are compared at `BOOTSTRAP_GRID`
    quantile levels. With one entry per cell (small sets) and a grid of one level per entry this
    is the replicate's SWD exactly; at BOOTSTRAP_CELLS cells of 32 768 entries the replicates'
    deviations from their mean agree with the exact ones to a correlation of 0.999 and a spread
    within 1% (benchmarks/metrics.py), which is what the centred interval uses.

    Args:
        real, fake: (sorted values [k, M], their image index [k, M]) of each set.
        aff_real, aff_fake: float64 [B, 2] each replicate's (mean, std) of each set.
        colsum: float32 [k] the directions' component sums (the projection of a constant 1).
    """
    (vr, ir), (vf, jf) = real, fake
    k = vr.shape[0]
    n_r, n_f = len(plan.boot[0][0]), len(plan.boot[0][1])
    total = float(plan.boot[0][0].sum()) * (vr.shape[1] // n_r)
    grid = min(BOOTSTRAP_GRID, int(total))
    cr = np.stack([c for c, _ in plan.boot]).astype(np.float32)
    cf = np.stack([c for _, c in plan.boot]).astype(np.float32)
    per = max(1, BOOTSTRAP_CELL_BYTES // (8 * BOOTSTRAP_CELLS * max(n_r, n_f)))
    out = []
    for lo in range(0, k, per):
        hi = min(k, lo + per)
        q = []
        for (v, i, n, c, a) in ((vr, ir, n_r, cr, aff_real), (vf, jf, n_f, cf, aff_fake)):
            cells = min(BOOTSTRAP_CELLS, v.shape[1])
            counts, sums = _cell_summaries(v[lo:hi], i[lo:hi], n, cells)
            w = (c @ counts.T).reshape(-1, cells)  # [B * directions, cells]
            mean = (c @ sums.T).reshape(-1, hi - lo, cells) / np.maximum(w, 1).reshape(-1, hi - lo, cells)
            pos = (mean - (a[:, :1] * colsum[lo:hi]).astype(np.float32)[:, :, None]) / a[:, 1:, None].astype(np.float32)
            q.append(_grid_quantiles(w, pos.reshape(-1, cells), total, grid))
        out.append((np.abs(q[0] - q[1]).mean(axis=1, dtype=np.float64) * total).reshape(len(plan.boot), hi - lo))
    return np.concatenate(out, axis=1)


def _bootstrap_sums_exact(real: tuple[np.ndarray, np.ndarray], fake: tuple[np.ndarray, np.ndarray], plan: SubsetPlan,
                          aff_real: np.ndarray, aff_fake: np.ndarray, colsum: np.ndarray) -> np.ndarray:
    """Return what `_bootstrap_sums` approximates, from every replicate's full multiset (the reference)."""
    (vr, ir), (vf, jf) = real, fake
    return np.stack([_abs_diff_sums(_multiset(vr, ir, cr), _multiset(vf, jf, cf),
                                    (float(ar[0]), float(ar[1])), (float(af[0]), float(af[1])), colsum)
                     for (cr, cf), ar, af in zip(plan.boot, aff_real, aff_fake, strict=True)])


def _affine(counts: np.ndarray, s1: np.ndarray, s2: np.ndarray, per_image: int) -> tuple[float, float]:
    """Return (mean, std) over all descriptor elements of the multiset `counts` from per-image sums."""
    n = float(counts.sum()) * per_image
    mean = float(counts @ s1) / n
    var = float(counts @ s2) / n - mean * mean
    return mean, max(math.sqrt(max(var, 0.0)), 1e-12)


def _abs_diff_sums(a: np.ndarray, b: np.ndarray, ma: tuple[float, float], mb: tuple[float, float],
                   colsum: np.ndarray) -> np.ndarray:
    """Return float64 [k]: per direction, sum |normalised a - normalised b| of sorted projections [k, M]."""
    na = (a - (ma[0] * colsum)[:, None]) * np.float32(1.0 / ma[1])
    nb = (b - (mb[0] * colsum)[:, None]) * np.float32(1.0 / mb[1])
    np.subtract(na, nb, out=na)
    np.abs(na, out=na)
    return na.sum(axis=1, dtype=np.float64)


def level_swd_with_subsets(real: torch.Tensor, fake: torch.Tensor, plan: SubsetPlan, *, settings: SWDSettings,
                           dirs_seed: int, level: int, chunk_bytes: int = PROJECTION_CHUNK_BYTES,
                           exact_bootstrap: bool = False) -> LevelSWD:
    """Return one level's SWD for every subset of `plan`, projecting each set once.

    Each set's descriptors are projected on the level's directions (the same draws as
    `swd_per_level`). A subset's projections are taken (by its images' descriptors) from the
    unsorted ones and sorted on their own; its per-set normalisation is an affine map of the
    projections (mean and std from per-image sums), which keeps the order. On the first
    `bootstrap_dirs` directions every sorted entry is also tagged with its image, from which the
    bootstrap replicates' cell summaries come (`_bootstrap_sums`). The value uses all
    `repeats x dirs_per_repeat` directions; floors the first `floor_dirs` (the expectation of the
    per-direction distance does not depend on how many are averaged); bootstrap replicates the first
    `bootstrap_dirs` (fixed across replicates, so that their spread is that of the image sampling).

    Args:
        real, fake: raw descriptors [n, P, D] (any float dtype) of one level.
        chunk_bytes: memory for the sorted projections that exist at once (all workers).
        exact_bootstrap: compute each bootstrap replicate from its full multiset (the reference of
            the cell summaries; slower).
    """
    n_r, p, d = real.shape
    n_f = fake.shape[0]
    dr = real.reshape(-1, d).to(torch.float32).numpy()
    df = fake.reshape(-1, d).to(torch.float32).numpy()
    centre = np.float32(dr.mean(dtype=np.float64))  # a common origin: projections of centred data keep float32 precision
    dr, df = dr - centre, df - centre
    s1 = {True: dr.reshape(n_r, -1).sum(1, dtype=np.float64), False: df.reshape(n_f, -1).sum(1, dtype=np.float64)}
    s2 = {True: np.square(dr).reshape(n_r, -1).sum(1, dtype=np.float64),
          False: np.square(df).reshape(n_f, -1).sum(1, dtype=np.float64)}
    g = torch_generator(dirs_seed, Stream.SWD_DIRECTIONS, level)
    dirs = torch.cat([draw_directions(d, settings.dirs_per_repeat, mode=settings.mode, generator=g)
                      for _ in range(settings.repeats)], 1).numpy()  # [D, K]
    k = dirs.shape[1]
    kb = min(settings.bootstrap_dirs, k) if plan.boot else 0
    kt = k if n_r != n_f else min(k, max(settings.floor_dirs if plan.floors else 0, kb))  # directions subsets need: no chunk straddles it
    kf = min(settings.floor_dirs, kt)
    img_r, img_f = np.repeat(np.arange(n_r, dtype=np.int64), p), np.repeat(np.arange(n_f, dtype=np.int64), p)
    workers = max(1, torch.get_num_threads())
    step = max(1, min(-(-k // (2 * workers)), chunk_bytes // ((n_r + n_f) * p * 24 * workers)))
    if (n_r + n_f) * p * k * 24 <= SMALL_PROBLEM_BYTES:
        workers, step = 1, k  # threads cost more than they save on small sets
    starts = [(s0, min(s0 + step, kt)) for s0 in range(0, kt, step)] + \
             [(s0, min(s0 + step, k)) for s0 in range(kt, k, step)]
    pi = p * d

    def aff(counts: np.ndarray, real_side: bool) -> tuple[float, float]:
        return _affine(counts, s1[real_side], s2[real_side], pi)

    a_val = [(aff(cr, True), aff(cf, False)) for cr, cf in plan.value]
    a_flo = [(aff(ca, True), aff(cb, True)) for ca, cb in plan.floors]
    boot_sums = _bootstrap_sums_exact if exact_bootstrap else _bootstrap_sums
    boot_r = np.array([aff(cr, True) for cr, _ in plan.boot], np.float64).reshape(-1, 2)
    boot_f = np.array([aff(cf, False) for _, cf in plan.boot], np.float64).reshape(-1, 2)
    a_mat = [(aff(cr, True), aff(cf, False)) for cr, cf in plan.matched]

    def entries(counts: np.ndarray) -> np.ndarray | None:
        """Return the descriptor mask [n * P] of a subset's images (None: every image)."""
        return None if bool(counts.all()) else np.repeat(counts.astype(bool), p)

    e_val = [(entries(cr), entries(cf)) for cr, cf in plan.value]
    e_flo = [(entries(ca), entries(cb)) for ca, cb in plan.floors]
    e_mat = [(entries(cr), entries(cf)) for cr, cf in plan.matched]

    def sorted_subset(proj: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        out = proj.copy() if keep is None else np.compress(keep, proj, axis=1)
        out.sort(axis=1)
        return out

    def subset_sums(pa: np.ndarray, pb: np.ndarray, masks: list[tuple[np.ndarray | None, np.ndarray | None]],
                    affs: list[tuple[tuple[float, float], tuple[float, float]]], colsum: np.ndarray) -> np.ndarray:
        """Return [subsets, rows]: per subset pair, the direction sums of |differences| of their sorted projections."""
        if not masks or not pa.shape[0]:
            return np.zeros((len(masks), 0))
        return np.stack([_abs_diff_sums(sorted_subset(pa, ka), sorted_subset(pb, kb_), aa, ab, colsum)
                         for (ka, kb_), (aa, ab) in zip(masks, affs, strict=True)])

    def chunk(span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = span
        sub = dirs[:, lo:hi]
        colsum = sub.sum(0)
        pr, pf = np.ascontiguousarray((dr @ sub).T), np.ascontiguousarray((df @ sub).T)
        nf_, nb = max(0, min(kf, hi) - lo), max(0, min(kb, hi) - lo)
        # Subsets are taken from the unsorted projections (descriptor order), then sorted on their own.
        flo = subset_sums(pr[:nf_], pr[:nf_], e_flo, a_flo, colsum[:nf_])
        mat = subset_sums(pr[:nf_], pf[:nf_], e_mat, a_mat, colsum[:nf_])
        boo = boot_sums(_sorted_tagged(pr[:nb], img_r), _sorted_tagged(pf[:nb], img_f), plan, boot_r, boot_f,
                        colsum[:nb]) if plan.boot and nb else np.zeros((len(plan.boot), 0))
        if len(plan.value) == 1 and e_val[0][0] is None and e_val[0][1] is None:  # the value compares the whole sets: sort in place
            pr.sort(axis=1)
            pf.sort(axis=1)
            (ar, af), = a_val
            val = _abs_diff_sums(pr, pf, ar, af, colsum)[None]
        else:
            val = subset_sums(pr, pf, e_val, a_val, colsum)
        return val, flo, boo, mat

    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1 or len(starts) == 1:
            parts = [chunk(sp) for sp in starts]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(chunk, starts))
    # per draw / split / replicate, the sums of |differences| over its directions, in direction order
    val = np.concatenate([x[0] for x in parts], axis=1).sum(1)
    flo = np.concatenate([x[1] for x in parts], axis=1).sum(1)
    boo = np.concatenate([x[2] for x in parts], axis=1).sum(1)
    mat = np.concatenate([x[3] for x in parts], axis=1).sum(1)
    m_value = int(plan.value[0][0].sum()) * p
    m_floor = max(plan.floor_size * p, 1)
    m_boot = int(plan.boot[0][0].sum()) * p if plan.boot else 1
    return LevelSWD(value=val / (m_value * k), floors=flo / (m_floor * max(kf, 1)), boot=boo / (m_boot * max(kb, 1)),
                    matched=mat / (m_floor * max(kf, 1)))


def swd_results(real: list[torch.Tensor], fake: list[torch.Tensor], *, settings: SWDSettings,
                seed: int) -> dict[str, MetricResult]:
    """Return ``swd_l<i>`` and ``swd_avg`` with matched floors and intervals from per-level raw descriptors.

    Args:
        real, fake: per level, descriptors [n, P, D] of each set (n images, P patches each).
        settings: SWD settings (directions are seeded by `settings.seed` and the level).
        seed: seeds the subsets (value draws, floor splits, bootstrap replicates).
    """
    n_real, n_fake = real[0].shape[0], fake[0].shape[0]
    plan = plan_subsets(n_real, n_fake, settings=settings, seed=seed)
    per_level = [level_swd_with_subsets(r, f, plan, settings=settings, dirs_seed=settings.seed, level=li)
                 for li, (r, f) in enumerate(zip(real, fake, strict=True))]
    return _results_from_levels(per_level, plan, n_real, n_fake, region=settings.region)


def result_keys(region: SWDRegion) -> tuple[str, str]:
    """Return (average key, level-key prefix) of the SWD of `region`: ``swd_avg`` / ``swd_l`` or
    ``swd_avg_breast`` / ``swd_breast_l``."""
    return (KEY_SWD_AVG, SWD_LEVEL_PREFIX) if region == "image" else (KEY_SWD_AVG_BREAST, SWD_BREAST_LEVEL_PREFIX)


def _results_from_levels(levels: list[LevelSWD], plan: SubsetPlan, n_real: int, n_fake: int, *,
                         region: SWDRegion = "image") -> dict[str, MetricResult]:
    """Return the per-level and average results (keys: `result_keys`) from the per-level subset SWDs."""
    out: dict[str, MetricResult] = {}
    avg_key, level_prefix = result_keys(region)
    rows = [(f"{level_prefix}{i}", [lv]) for i, lv in enumerate(levels)] + [(avg_key, levels)]
    for key, group in rows:
        value = float(np.mean([lv.value.mean() for lv in group]))
        floor = summarise_floor(list(np.mean([lv.floors for lv in group], axis=0)), plan.floor_size) \
            if plan.floors else None
        ci = None
        if plan.boot:
            # The replicates share their directions, so their spread is that of the image sampling alone.
            ci = centred_interval(value, np.mean([lv.boot for lv in group], axis=0), scale=plan.boot_scale)
        matched = float(np.mean([lv.matched.mean() for lv in group])) if plan.matched else None
        out[key] = MetricResult(value, ci, None, n_real, n_fake, matched_value=matched).with_floor(floor)
    return out
