"""MS-SSIM and the diversity score: mean MS-SSIM over random pairs within a set.

MS-SSIM (Wang, Simoncelli, Bovik 2003) with the standard settings: 11x11 Gaussian window
(sigma 1.5, separable, "valid" filtering), K1 0.01, K2 0.03, 5 scales with weights
0.0448, 0.2856, 0.3001, 0.2363, 0.1333, 2x2 average pooling between scales (with one pixel of
padding on odd sides), contrast-structure terms clipped at 0 (relu), as `pytorch_msssim.ms_ssim`.
Values match that package to 1e-5 (tests). It is faster because the five filtered maps
(x, y, x^2, y^2, xy) go through the two 1-D convolutions as one stacked tensor.

Small images: 5 scales need the short side to stay >= 11 px at the 5th scale (about 161 px). For
smaller images the largest number of scales that fits is used and the weights of those scales are
renormalised to sum to 1 (documented deviation; below 11 px an error is raised).

Diversity (Odena et al. 2017, used for GANs of mammograms by Korkinof et al. 2018): mean MS-SSIM
over random pairs of distinct images of the same set (lower = more diverse). A collapsed
generator scores high. The generated set's value is reported beside the real set's. Streaming:
each set keeps a seeded uniform sample of at most `max_images` images (priority sampling on
per-image keys, stored as 16-bit integers: x * 65535 rounded, exact for 8- and 16-bit sources and
within 8e-6 of any float image, so that 16-bit data keep their precision; float16 would round
values near 1 to steps of 5e-4, coarser than 12-bit data) and `n_pairs` pairs are drawn among them; per view, pairs are
drawn within the view, and "all" pairs are drawn from every kept image.

Interval: pairs share images, so resampling pair values as if independent understates the
uncertainty once pairs outnumber images, and resampling images (a pair weighted by the product of
its images' counts) overstates it (the product weights triple the pair-level noise; simulated, it
covered 99.5-100 %). The interval is the normal one from the variance of the incomplete
U-statistic (`pair_mean_variance`: pair variance plus the covariance of pairs sharing an image),
symmetric about the value. ``msssim_gap`` (generated - real, > 0 = less diverse than the real
images) adds both sets' variances. `n_bootstrap` 0 turns the intervals off as elsewhere. The expectation of a pair mean does not
depend on the set size, so the real set's own value is the floor of ``msssim_fake``.

Breast-aware mode (``region="breast"``): each pair is compared over the union of its two breast
masks (QA's mask, see regions.py), so that the black background both images share, which is
identical and would count as perfectly similar, does not raise the score.

References:
    Z. Wang, E. P. Simoncelli, A. C. Bovik. Multiscale structural similarity for image quality
    assessment. Asilomar 2003.
    A. Odena, C. Olah, J. Shlens. Conditional image synthesis with auxiliary classifier GANs. ICML 2017.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np
import torch
import torch.nn.functional as F

from mammoeval.core.seeding import Stream, numpy_rng
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.base import (
    VIEW_NAMES,
    MetricResult,
    PrioritySample,
    SampledSets,
    ViewResults,
    sample_keys,
    too_few_reason,
    view_masks,
)
from mammoeval.metrics.keys import (
    KEY_MSSSIM_FAKE,
    KEY_MSSSIM_FAKE_BREAST,
    KEY_MSSSIM_GAP,
    KEY_MSSSIM_GAP_BREAST,
    KEY_MSSSIM_REAL,
    KEY_MSSSIM_REAL_BREAST,
)
from mammoeval.metrics.regions import BreastMasker, batch_breast_masks

Region = Literal["image", "breast"]
MSSSIM_WEIGHTS: Final[tuple[float, ...]] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_LEVELS: Final[float] = 65535.0
"""Kept images are stored as round(x * _LEVELS) in uint16."""


def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Return the normalised 1-D Gaussian window [size]."""
    # Built in float32 and then cast, as pytorch-msssim does, so that both agree to ~1e-7.
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(dtype)


def gaussian_filter_valid(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Return `x` [..., H, W] filtered by the separable window `win` [K] ("valid": [..., H-K+1, W-K+1]).

    Shifted in-place multiply-adds: the same sums as two 1-D convolutions, several times faster
    than `conv2d` on one-channel images on CPU.
    """
    k = win.numel()
    h, w = x.shape[-2:]
    taps = [float(v) for v in win]
    rows = torch.mul(x[..., :, 0:w - k + 1], taps[0])
    for i in range(1, k):
        rows.add_(x[..., :, i:w - k + 1 + i], alpha=taps[i])
    out = torch.mul(rows[..., 0:h - k + 1, :], taps[0])
    for i in range(1, k):
        out.add_(rows[..., i:h - k + 1 + i, :], alpha=taps[i])
    return out


def n_scales_for(height: int, width: int, *, win_size: int = 11, max_scales: int = 5) -> int:
    """Return how many MS-SSIM scales fit an image: each scale's short side must be >= `win_size`.

    Raises:
        ValueError: the image is smaller than one window.
    """
    s, h, w = 0, height, width
    while s < max_scales and min(h, w) >= win_size:
        s += 1
        h, w = (h + 1) // 2, (w + 1) // 2
    if s == 0:
        raise ValueError(f"image {height}x{width} is smaller than the {win_size}x{win_size} SSIM window")
    return s


def _region_mean(maps: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Return per-image means [N] of `maps` [N, 1, h, w], weighted by `weight` [N, 1, h, w] where it has mass."""
    if weight is None:
        return maps.flatten(1).mean(1)
    w = weight.flatten(1)
    total = w.sum(1)
    weighted = (maps.flatten(1) * w).sum(1) / total.clamp_min(1e-12)
    return torch.where(total > 0, weighted, maps.flatten(1).mean(1))


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, c1: float, c2: float,
                region: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return per-image (ssim, cs) [N] for [N, 1, H, W] inputs (valid Gaussian filtering).

    `region` float [N, 1, H, W] in [0, 1] weights each window by its centre pixel (None = plain mean).
    """
    n = x.shape[0]
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=0)  # [5N, 1, H, W]
    f = gaussian_filter_valid(stack, win)
    mu1, mu2, xx, yy, xy = f.split(n, dim=0)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    cs_map = (2 * (xy - mu12) + c2) / ((xx - mu1_sq) + (yy - mu2_sq) + c2)
    ssim_map = ((2 * mu12 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
    weight = None
    if region is not None:
        r = win.numel() // 2
        weight = region[..., r:region.shape[-2] - r, r:region.shape[-1] - r]
    return _region_mean(ssim_map, weight), _region_mean(cs_map, weight)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, win_size: int = 11,
            win_sigma: float = 1.5, weights: tuple[float, ...] = MSSSIM_WEIGHTS,
            k1: float = 0.01, k2: float = 0.03, dtype: torch.dtype | None = None,
            region: torch.Tensor | None = None) -> torch.Tensor:
    """Return the MS-SSIM of each pair, float [N] in [0, 1].

    Args:
        x, y: float [N, 1, H, W] grey images in [0, data_range].
        data_range: value range of the images.
        win_size, win_sigma: Gaussian window size (odd) and sigma, in pixels.
        weights: per-scale exponents; fewer scales are used (renormalised) when the image is small.
        k1, k2: SSIM stability constants.
        dtype: compute type (e.g. torch.float64); None keeps the input's.
        region: optional [N, 1, H, W] mask (bool or weights in [0, 1]): SSIM and contrast-structure
            maps are averaged over the windows centred in it (at coarser scales, over the pooled
            mask's weights) instead of over the whole image; a pair whose region is empty at a
            scale falls back to the whole-image mean there. None = the standard MS-SSIM.

    Raises:
        ValueError: shapes differ, are not [N, 1, H, W], or the image is smaller than the window.
    """
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected two [N, 1, H, W] tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if win_size % 2 != 1:
        raise ValueError(f"win_size must be odd, got {win_size}")
    if dtype is not None:
        x, y = x.to(dtype), y.to(dtype)
    levels = n_scales_for(x.shape[2], x.shape[3], win_size=win_size, max_scales=len(weights))
    w = torch.tensor(weights[:levels], dtype=x.dtype, device=x.device)
    if levels < len(weights):
        w = w / w.sum()  # fewer scales than weights: renormalise the ones used (documented rule)
    win = gaussian_window(win_size, win_sigma, dtype=x.dtype).to(x.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    weight = None
    if region is not None:
        if region.shape != x.shape:
            raise ValueError(f"region must be {tuple(x.shape)}, got {tuple(region.shape)}")
        weight = region.to(x.device, x.dtype)
    terms = []
    for i in range(levels):
        ssim_v, cs = _ssim_terms(x, y, win, c1, c2, weight)
        if i < levels - 1:
            terms.append(torch.relu(cs))
            # Odd sides: one zero pixel on both sides, counted in the mean (pytorch-msssim's rule).
            pad = (x.shape[2] % 2, x.shape[3] % 2)
            x = F.avg_pool2d(x, 2, padding=pad)
            y = F.avg_pool2d(y, 2, padding=pad)
            weight = None if weight is None else F.avg_pool2d(weight, 2, padding=pad)
    terms.append(torch.relu(ssim_v))
    return torch.prod(torch.stack(terms) ** w[:, None], dim=0)


@dataclass(frozen=True)
class MSSSIMSettings:
    """Diversity settings.

    Attributes:
        n_pairs: random pairs per set and view.
        max_images: images kept per set (seeded uniform sample) to draw pairs from.
        seed: seeds the sample and the pairs.
        n_bootstrap: bootstrap replicates over pair values (0 = none).
        batch_pairs: pairs computed at a time (memory: about 12 full-size float32 maps per pair).
        region: "image" (the standard, whole-image MS-SSIM) or "breast" (each pair is compared over
            the union of the two images' breast masks, see `ms_ssim`'s `region`).
    """

    n_pairs: int = 100
    max_images: int = 128
    seed: int = 0
    n_bootstrap: int = 200
    batch_pairs: int = 4
    region: Region = "image"

    def __post_init__(self) -> None:
        if self.region not in ("image", "breast"):
            raise ValueError(f"region must be 'image' or 'breast', got {self.region!r}")


class MSSSIMDiversity(SampledSets):
    """Streaming MS-SSIM diversity of the generated set and of the real set, per view.

    Result keys: ``msssim_fake`` (floor = the real set's value), ``msssim_real`` and ``msssim_gap``
    (fake - real).
    """

    def __init__(self, settings: MSSSIMSettings = MSSSIMSettings(), *, device: str | torch.device = "cpu",
                 breast_masker: BreastMasker | None = None) -> None:
        self.name = "msssim" if settings.region == "image" else "msssim_breast"
        self.keys = result_keys(settings.region)
        self.cfg = settings
        self.device = torch.device(device)
        self.breast_masker = breast_masker
        self.reset()

    def reset(self) -> None:
        """Forget both sets."""
        self._sets = {r: PrioritySample(self.cfg.max_images) for r in (True, False)}

    def reset_fake(self) -> None:
        """Forget the generated set only."""
        self._sets[False] = PrioritySample(self.cfg.max_images)

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the real-side state."""
        s = asdict(self.cfg)
        s.pop("n_bootstrap")
        s["image_storage"] = "uint16 x 65535"  # cached real states in another storage do not match
        return s

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Add a batch to the seeded sample of kept images."""
        st = self._sets[real]
        n = batch.images.shape[0]
        stream = Stream.MSSSIM_SAMPLE_REAL if real else Stream.MSSSIM_SAMPLE_FAKE
        keys = sample_keys(self.cfg.seed, stream, st.n_seen, n)
        levels = (batch.images.detach().to("cpu", torch.float32).clamp(0, 1) * _LEVELS).round().to(torch.int32)
        fields = {"images": levels.to(torch.uint16), "views": batch.views.cpu().to(torch.int64)}
        if self.cfg.region == "breast":
            fields["masks"] = batch_breast_masks(batch, self.breast_masker)
        st.add(fields, keys)

    def pair_values(self, real: bool, view: str) -> np.ndarray:
        """Return the MS-SSIM of each seeded random pair of distinct kept images of one set and view."""
        return self.pairs(real, view)[0]

    def pairs(self, real: bool, view: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Return (pair values [n_pairs], first and second image [n_pairs] as positions among the view's m kept
        images, m) for one set and view (empty arrays when the view has fewer than 2 images)."""
        st = self._sets[real]
        empty = np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), 0
        if len(st) == 0:
            return empty
        images = st.get("images")
        idx = view_masks(st.get("views"))[view].nonzero().flatten()
        if idx.numel() < 2:
            return empty
        rng = numpy_rng(self.cfg.seed, Stream.MSSSIM_PAIRS_REAL if real else Stream.MSSSIM_PAIRS_FAKE, VIEW_NAMES.index(view))
        m = idx.numel()
        a = rng.integers(0, m, size=self.cfg.n_pairs)
        b = (a + rng.integers(1, m, size=self.cfg.n_pairs)) % m  # never the same image
        out = []
        for s in range(0, self.cfg.n_pairs, self.cfg.batch_pairs):
            ia, ib = idx[a[s:s + self.cfg.batch_pairs]], idx[b[s:s + self.cfg.batch_pairs]]
            x = images[ia].to(self.device).to(torch.float32) / _LEVELS
            y = images[ib].to(self.device).to(torch.float32) / _LEVELS
            region = None
            if self.cfg.region == "breast":
                masks = st.get("masks")
                region = (masks[ia] | masks[ib]).to(self.device, torch.float32)
            out.append(ms_ssim(x, y, region=region).double().cpu().numpy())
        return np.concatenate(out), a, b, int(m)

    def unavailable(self) -> dict[str, str]:
        """Return ``{"msssim/<view>": reason}`` for views with fewer than 2 images in a set."""
        return self._too_few(self.name)

    def compute(self) -> ViewResults:
        """Return ``{view: {"msssim_fake", "msssim_real", "msssim_gap"}}`` with intervals (`pair_mean_interval`)."""
        def one(v: str, _: int) -> dict[str, MetricResult] | None:
            nr, nf = self._count(True, v), self._count(False, v)
            if too_few_reason(nr, nf):
                return None
            (fv, fa, fb, _), (rv, ra, rb, _) = self.pairs(False, v), self.pairs(True, v)
            vf, vr = float(fv.mean()), float(rv.mean())
            on = self.cfg.n_bootstrap > 0
            gap_sd = float(np.sqrt(pair_mean_variance(fv, fa, fb) + pair_mean_variance(rv, ra, rb)))
            gap_ci = (vf - vr - 1.959963984540054 * gap_sd, vf - vr + 1.959963984540054 * gap_sd)
            k_fake, k_real, k_gap = self.keys
            return {
                k_fake: MetricResult(vf, pair_mean_interval(fv, fa, fb) if on else None, vr, nr, nf),
                k_real: MetricResult(vr, pair_mean_interval(rv, ra, rb) if on else None, None, nr, nf),
                k_gap: MetricResult(vf - vr, gap_ci if on and np.isfinite(gap_sd) else None, None, nr, nf),
            }

        return self._per_view(one)


def result_keys(region: Region) -> tuple[str, str, str]:
    """Return the (generated, real, gap) keys of the MS-SSIM of `region` (breast keys end in ``_breast``)."""
    if region == "image":
        return KEY_MSSSIM_FAKE, KEY_MSSSIM_REAL, KEY_MSSSIM_GAP
    return KEY_MSSSIM_FAKE_BREAST, KEY_MSSSIM_REAL_BREAST, KEY_MSSSIM_GAP_BREAST


def pair_mean_variance(values: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """Return the estimated variance of the mean of pair values whose pairs share images.

    The pairs are a random incomplete design over images drawn from one distribution, so
    Var(mean) = (P s2 + D s2 + S c1) / P^2, with P pairs, s2 the variance of one pair value, D the
    ordered couples of draws of the same pair (identical values), S the ordered couples of draws
    sharing exactly one image, and c1 the covariance of two such pair values (estimated by the mean
    cross-product of centred values over those couples, clipped at 0). This is the variance of an
    incomplete U-statistic; it accounts for both the image sampling and the pair draws.
    """
    v = np.asarray(values, np.float64)
    p = v.size
    if p < 2:
        return float("nan")
    c = v - v.mean()
    s2 = float(c @ c) / (p - 1)
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    pair_id = lo.astype(np.int64) * (int(hi.max()) + 1) + hi
    _, pair_counts = np.unique(pair_id, return_counts=True)
    dup = int((pair_counts * (pair_counts - 1)).sum())
    n_img = int(max(first.max(), second.max())) + 1
    sums = np.bincount(first, c, n_img) + np.bincount(second, c, n_img)
    sq = np.bincount(first, c * c, n_img) + np.bincount(second, c * c, n_img)
    deg = np.bincount(first, minlength=n_img) + np.bincount(second, minlength=n_img)
    # couples of draws through one image; a duplicated pair shares two images and is counted in dup instead
    cross = float((sums ** 2 - sq).sum()) - 2 * dup * s2
    shared = int((deg * (deg - 1)).sum()) - 2 * dup
    c1 = max(cross / shared, 0.0) if shared > 0 else 0.0
    return (p * s2 + dup * s2 + shared * c1) / p ** 2


def pair_mean_interval(values: np.ndarray, first: np.ndarray, second: np.ndarray, *,
                       z: float = 1.959963984540054) -> tuple[float, float] | None:
    """Return the normal 95 % interval of a mean of pair values from `pair_mean_variance` (None for < 2 pairs)."""
    var = pair_mean_variance(values, first, second)
    if not np.isfinite(var):
        return None
    mean = float(np.mean(values))
    half = z * float(np.sqrt(var))
    return mean - half, mean + half
