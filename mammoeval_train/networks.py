"""Progressive G and D (Karras et al. 2018; Korkinof et al. 2018): non-square base block, equalized
learning rate, pixel norm, minibatch stddev, one 1-channel output/input layer per stage, linear
fade-in, view conditioning (one-hot joined to z) and an auxiliary view classifier in D.

Two options go beyond PGGAN (TrainConfig.pad_mode, TrainConfig.g_output; docs/training.md):
replicate padding of every 3x3 conv instead of zeros, and G's output clamped to the data range
[-1, 1], so that a background pushed below black is exactly black, as every real background is.

Every network holds all stages from the start; `stage` and `alpha` choose the active path, so the
state dict never changes shape while the model grows.

References:
    Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation", ICLR 2018.
    Korkinof et al., "High-Resolution Mammogram Synthesis using Progressive Generative Adversarial
    Networks", arXiv:1807.03401, 2018.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mammoeval.core.imageops import box_reduce_tensor
from mammoeval.core.seeding import Stream, torch_generator
from mammoeval_train.config import PadMode, TrainConfig

N_VIEWS = 2
LRELU_SLOPE = 0.2
MBSTD_GROUP = 4
_EPS = 1e-8


class EqualizedConv2d(nn.Module):
    """Conv with weights drawn N(0, 1) and scaled at run time by gain / sqrt(fan_in) (He), 'same' size.

    pad_mode "zero" pads with zeros (PGGAN); "replicate" repeats the edge pixels, so a border
    pixel sees the same kind of neighbourhood as an interior one.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, gain: float = math.sqrt(2.0),
                 generator: torch.Generator | None = None, pad_mode: PadMode = "zero") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel, generator=generator))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2
        self.pad_mode = pad_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        if self.pad_mode == "replicate" and self.padding:
            return F.conv2d(F.pad(x, [self.padding] * 4, mode="replicate"), w, self.bias)
        return F.conv2d(x, w, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Dense layer with weights drawn N(0, 1) and scaled at run time by gain / sqrt(fan_in).

    bias=False leaves the bias to the caller (G's first layer adds one per channel after reshaping).
    """

    def __init__(self, in_features: int, out_features: int, *, gain: float = math.sqrt(2.0),
                 generator: torch.Generator | None = None, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features, generator=generator))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Return x divided by the RMS over its channel axis (dim 1), per pixel."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + _EPS)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Return leaky ReLU with slope 0.2."""
    return F.leaky_relu(x, LRELU_SLOPE)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Return x [N, C, H, W] upsampled to [N, C, 2H, 2W] by nearest neighbour."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2(x: torch.Tensor) -> torch.Tensor:
    """Return x [N, C, H, W] averaged over 2x2 blocks to [N, C, H/2, W/2]."""
    return box_reduce_tensor(x, 2)


def minibatch_stddev(x: torch.Tensor, group: int = MBSTD_GROUP) -> torch.Tensor:
    """Return x with one channel appended: the mean stddev of features across groups of samples.

    The group is the largest divisor of the batch size that is <= `group` (PGGAN uses 4).
    Samples i, i+M, i+2M, ... (M = N / group) form a group.
    """
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    y = x.float().reshape(g, -1, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = torch.sqrt(y + _EPS).mean(dim=(1, 2, 3))  # [M]
    y = y.to(x.dtype).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


def upsample2_conv(conv: EqualizedConv2d, x: torch.Tensor) -> torch.Tensor:
    """Return conv(upsample2(x)) for a 3x3 `conv`, computed as one 4x4 stride-2 transposed conv.

    Exactly the same function (nearest upsampling then a zero-padded 3x3 conv), but the
    multiply-adds run at the input resolution: 4/9 of the work, no upsampled copy (PGGAN's
    fused_scale). Args: x float [N, C_in, H, W]; returns [N, C_out, 2H, 2W].

    With pad_mode "replicate": replicate-padding the nearest-upsampled image by one pixel equals
    upsampling x replicate-padded by one pixel and cropping, so the same transposed conv runs on
    the padded input and the two outer output pixels on each side are dropped.
    """
    w = F.pad(conv.weight * conv.scale, [1, 1, 1, 1])
    w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
    w = w.flip(2, 3).transpose(0, 1)
    if conv.pad_mode == "replicate":
        y = F.conv_transpose2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), w, conv.bias, stride=2, padding=1)
        return y[:, :, 2:-2, 2:-2]
    return F.conv_transpose2d(x, w, conv.bias, stride=2, padding=1)


def conv_downsample2(conv: EqualizedConv2d, x: torch.Tensor) -> torch.Tensor:
    """Return downsample2(conv(x)) for a 3x3 `conv`, computed as one 4x4 stride-2 conv.

    Exactly the same function (a zero-padded 3x3 conv then 2x2 averaging), with a quarter of the
    output positions: 4/9 of the work, no full-resolution activation (PGGAN's fused_scale).
    Args: x float [N, C_in, H, W] with H, W even; returns [N, C_out, H/2, W/2]. The conv's
    pad_mode decides the one-pixel padding.
    """
    w = F.pad(conv.weight * conv.scale, [1, 1, 1, 1])
    w = (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) * 0.25
    if conv.pad_mode == "replicate":
        return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), w, conv.bias, stride=2)
    return F.conv2d(x, w, conv.bias, stride=2, padding=1)


def fade(old: torch.Tensor, new: torch.Tensor, alpha: float) -> torch.Tensor:
    """Return old + (new - old) * alpha (exactly `old` at alpha 0, `new` at alpha 1)."""
    if alpha >= 1.0:
        return new
    return old + (new - old) * alpha


class _GBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, gen: torch.Generator, pad_mode: PadMode) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_ch, out_ch, 3, generator=gen, pad_mode=pad_mode)
        self.conv1 = EqualizedConv2d(out_ch, out_ch, 3, generator=gen, pad_mode=pad_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(lrelu(upsample2_conv(self.conv0, x)))
        return pixel_norm(lrelu(self.conv1(x)))


class Generator(nn.Module):
    """Maps (z, view) to a 1-channel image at the resolution of `stage`.

    forward(z, views, stage, alpha): z float [N, latent_size], views int64 [N] in {0, 1};
    returns float [N, 1, base_h * 2**stage, base_w * 2**stage]: in [-1, 1] when cfg.g_output is
    "clamp", else unbounded (about [-1, 1]).

    As in PGGAN, the one-hot view is appended to z and pixel norm is applied to the joined vector;
    the first dense layer has one bias per feature map (added after the reshape to base_h x base_w).
    """

    def __init__(self, cfg: TrainConfig, *, generator: torch.Generator) -> None:
        super().__init__()
        self.base = cfg.base
        self.n_stages = cfg.n_stages
        self.clamp_output = cfg.g_output == "clamp"
        ch0 = cfg.channels(0)
        self.ch0 = ch0
        pad = cfg.pad_mode
        self.dense = EqualizedLinear(cfg.latent_size + N_VIEWS, ch0 * cfg.base[0] * cfg.base[1],
                                     gain=math.sqrt(2.0) / 4, generator=generator, bias=False)
        self.dense_bias = nn.Parameter(torch.zeros(ch0))
        self.conv = EqualizedConv2d(ch0, ch0, 3, generator=generator, pad_mode=pad)
        self.blocks = nn.ModuleList([nn.Identity()] + [
            _GBlock(cfg.channels(s - 1), cfg.channels(s), generator, pad) for s in range(1, cfg.n_stages)
        ])
        self.to_rgb = nn.ModuleList([
            EqualizedConv2d(cfg.channels(s), 1, 1, gain=1.0, generator=generator) for s in range(cfg.n_stages)
        ])

    def forward(self, z: torch.Tensor, views: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        onehot = F.one_hot(views.clamp(min=0), N_VIEWS).to(z.dtype)
        x = pixel_norm(torch.cat([z, onehot], dim=1))
        x = self.dense(x).reshape(-1, self.ch0, self.base[0], self.base[1]) + self.dense_bias.reshape(1, -1, 1, 1)
        x = pixel_norm(lrelu(x))
        x = pixel_norm(lrelu(self.conv(x)))
        for s in range(1, stage):
            x = self.blocks[s](x)
        if stage == 0:
            out = self.to_rgb[0](x)
        else:
            out = self.to_rgb[stage](self.blocks[stage](x))
            if alpha < 1.0:
                out = fade(upsample2(self.to_rgb[stage - 1](x)), out, alpha)
        return out.clamp(-1.0, 1.0) if self.clamp_output else out


class _DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, gen: torch.Generator, pad_mode: PadMode) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_ch, in_ch, 3, generator=gen, pad_mode=pad_mode)
        self.conv1 = EqualizedConv2d(in_ch, out_ch, 3, generator=gen, pad_mode=pad_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # PGGAN's fused_scale order: activation after the (fused) conv + downsample
        return lrelu(conv_downsample2(self.conv1, lrelu(self.conv0(x))))


class Discriminator(nn.Module):
    """Scores images (WGAN critic) and classifies their view (auxiliary head).

    forward(images, stage, alpha): images float [N, 1, H, W] at the stage's resolution;
    returns (score float [N], view_logits float [N, 2]).
    """

    def __init__(self, cfg: TrainConfig, *, generator: torch.Generator) -> None:
        super().__init__()
        ch0 = cfg.channels(0)
        self.from_rgb = nn.ModuleList([
            EqualizedConv2d(1, cfg.channels(s), 1, generator=generator) for s in range(cfg.n_stages)
        ])
        self.blocks = nn.ModuleList([nn.Identity()] + [
            _DBlock(cfg.channels(s), cfg.channels(s - 1), generator, cfg.pad_mode) for s in range(1, cfg.n_stages)
        ])
        self.conv = EqualizedConv2d(ch0 + 1, ch0, 3, generator=generator, pad_mode=cfg.pad_mode)
        self.dense0 = EqualizedLinear(ch0 * cfg.base[0] * cfg.base[1], ch0, generator=generator)
        self.dense1 = EqualizedLinear(ch0, 1 + N_VIEWS, gain=1.0, generator=generator)

    def forward(self, img: torch.Tensor, stage: int, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        x = lrelu(self.from_rgb[stage](img))
        if stage > 0:
            x = self.blocks[stage](x)
            if alpha < 1.0:
                x = fade(lrelu(self.from_rgb[stage - 1](downsample2(img))), x, alpha)
            for s in range(stage - 1, 0, -1):
                x = self.blocks[s](x)
        x = lrelu(self.conv(minibatch_stddev(x)))
        x = lrelu(self.dense0(x.flatten(1)))
        out = self.dense1(x)
        return out[:, 0], out[:, 1:]


def build_networks(cfg: TrainConfig) -> tuple[Generator, Discriminator]:
    """Return freshly initialised (G, D) from stream `Stream.NETWORK_INIT` of cfg.seed (same weights on every rank)."""
    gen = torch_generator(cfg.seed, Stream.NETWORK_INIT)
    return Generator(cfg, generator=gen), Discriminator(cfg, generator=gen)
