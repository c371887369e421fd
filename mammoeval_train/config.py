"""TrainConfig: every setting of a progressive WGAN-GP run, validated once; named presets.

Units are in the names: `*_kimg` are thousands of real images shown to D, `size` and `base` are
(height, width) in pixels. Stage 0 is the `base` block (5x4); stage s outputs `base * 2**s`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from mammoeval.core.errors import ConfigError
from mammoeval.core.seeding import check_seed

Precision = Literal["fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]
PresetName = Literal["demo", "paper"]
OptReset = Literal["fade_in_and_stable", "fade_in"]
PadMode = Literal["zero", "replicate"]
GOutput = Literal["linear", "clamp"]
ViewSampling = Literal["dataset", "uniform"]
PRESETS: tuple[str, ...] = ("demo", "paper")
AUGMENTATIONS: tuple[str, ...] = ("translation", "cutout", "contrast")
"""Names of the differentiable augmentations (implemented in mammoeval_train.augment)."""


@dataclass(frozen=True)
class TrainConfig:
    """A fully resolved training configuration (saved to RUN/config.json and every checkpoint).

    Attributes:
        size: target (height, width) in pixels; must be `base * 2**k`.
        base: (height, width) of the first block (Korkinof et al.: 5x4).
        fmap_base, fmap_max: feature maps of stage s are ``min(fmap_base // 2**(s+1), fmap_max)``
            (PGGAN's nf() with stage counted from 1 at the base block).
        latent_size: dimension of z (the one-hot view is appended to it).
        lr: Adam learning rate for G and D (constant); Adam betas (0, 0.99), eps 1e-8.
        gp_weight, gp_target: WGAN-GP lambda and target gradient norm: lambda*(|g|-t)^2/t^2.
        drift_weight: epsilon_drift, weight of D(real)^2.
        aux_weight: weight of the auxiliary view cross-entropy (D: real + fake, G: fake).
        ema_beta: G-EMA decay per D step, as in PGGAN (the EMA follows G d_steps times per G
            step: one update with ema_beta ** d_steps).
        pad_mode: padding of every 3x3 conv in G and D: "zero" (PGGAN) or "replicate" (edge
            pixels repeated: no bright or dark frame where the zero padding meets a black
            background; docs/training.md).
        g_output: "linear" (PGGAN) or "clamp": G's output clamped to the data range [-1, 1] in
            training and sampling, so a background G pushes below black reads as exactly black
            (the real background is the data minimum; a linear output only ever approaches it).
        g_views: view labels of G steps: "dataset" = drawn from the dataset's view mix (PGGAN's
            random labels of the training set), "uniform" = CC and MLO with equal odds.
        augment: differentiable augmentations applied to every image D sees, real and fake alike
            (DiffAugment style; mammoeval_train.augment): a tuple of "translation", "cutout",
            "contrast"; () = off. For small datasets.
        opt_reset: when Adam's state is reset: "fade_in_and_stable" = when a stage starts fading in
            and again when it is fully in (PGGAN's reset_opt_for_new_lod); "fade_in" = only when
            layers are added (the second reset jolts a tiny network: grey grids for 2-4 kimg).
        phase_kimg: images shown in the stable (training) phase of every stage.
        transition_kimg: images shown while a new stage fades in (alpha 0 -> 1).
        phase_scale: one factor per stage multiplying both its phase_kimg and transition_kimg
            (None = 1 for every stage); lets a small run dwell on the cheap low resolutions.
        minibatch: global minibatch per stage (one entry per stage, summed over all ranks).
        total_kimg: total length; the last stage trains until it is reached.
        d_steps_start, d_steps_end: D steps per G step, ramped linearly (and rounded) between
            `d_steps_ramp_kimg` = (start_kimg, end_kimg).
        kimg_per_tick: log row cadence.
        ticks_per_checkpoint: a checkpoint and a grid every this many ticks (and at the end).
        keep_last: keep the newest this many checkpoints ...
        keep_every_kimg: ... plus every checkpoint at a multiple of this (None = keep all).
        seed: seeds every random draw (latents, data order, GP mixing, initial weights).
        phantom_n: number of phantom images generated when training without --data.
        grid_per_view: generated images per view in the snapshot grids (rows of `grid_cols`).
        grid_cols: images per grid row.
        grid_tile: (height, width) each grid tile is upsampled to (nearest); None = `size`.
        swd_per_view: at every snapshot (rank 0), log the SWD of this many G-EMA images per view
            against as many reals at the current resolution to RUN/metrics.jsonl (0 = off; needs
            `mammoeval.metrics`; stages whose short side is under 16 px are skipped).
        preload_max_mb: a stage whose whole dataset (float32, this rank's share not counted
            separately) fits in this many MiB is held in memory; larger stages stream through a
            DataLoader with `num_workers` workers.
        num_workers: DataLoader workers for streamed stages.
        precision: "bf16" runs G and D under bf16 autocast (GPU option; losses stay fp32).
        channels_last: use the channels-last memory format (GPU option).
        device: "auto" = CUDA when available.
    """

    size: tuple[int, int] = (1280, 1024)
    base: tuple[int, int] = (5, 4)
    fmap_base: int = 8192
    fmap_max: int = 512
    latent_size: int = 512
    lr: float = 0.0015
    gp_weight: float = 10.0
    gp_target: float = 1.0
    drift_weight: float = 0.001
    aux_weight: float = 1.0
    ema_beta: float = 0.999
    opt_reset: OptReset = "fade_in_and_stable"
    pad_mode: PadMode = "replicate"
    g_output: GOutput = "clamp"
    g_views: ViewSampling = "dataset"
    augment: tuple[str, ...] = ()
    phase_kimg: float = 600.0
    transition_kimg: float = 600.0
    phase_scale: tuple[float, ...] | None = None
    minibatch: tuple[int, ...] = (512, 256, 128, 64, 32, 32, 32, 32, 32)
    total_kimg: float = 15000.0
    d_steps_start: int = 1
    d_steps_end: int = 5
    d_steps_ramp_kimg: tuple[float, float] = (0.0, 10200.0)
    kimg_per_tick: float = 160.0
    ticks_per_checkpoint: int = 10
    keep_last: int = 3
    keep_every_kimg: float | None = 1000.0
    seed: int = 0
    phantom_n: int = 512
    grid_per_view: int = 8
    grid_cols: int = 8
    grid_tile: tuple[int, int] | None = (320, 256)
    swd_per_view: int = 0
    preload_max_mb: int = 1024
    num_workers: int = 4
    precision: Precision = "fp32"
    channels_last: bool = False
    device: Device = "auto"

    @property
    def n_stages(self) -> int:
        """Number of resolutions from `base` to `size` inclusive."""
        return int(round(math.log2(self.size[0] // self.base[0]))) + 1

    def resolution(self, stage: int) -> tuple[int, int]:
        """Return (height, width) output by `stage` (0 = base block)."""
        return (self.base[0] << stage, self.base[1] << stage)

    def channels(self, stage: int) -> int:
        """Return the feature maps of `stage`: min(fmap_base / 2^(stage+1), fmap_max), at least 1."""
        return max(1, min(self.fmap_base >> (stage + 1), self.fmap_max))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def validate(cfg: TrainConfig) -> TrainConfig:
    """Return `cfg` unchanged when every field and cross-field rule holds.

    Raises:
        ConfigError: one line naming the field and the rule.
    """
    check_seed(cfg.seed)
    h, w = cfg.size
    bh, bw = cfg.base
    ratio = h // bh if bh > 0 else 0
    if bh <= 0 or bw <= 0 or h % bh or w % bw or ratio != w // bw or ratio & (ratio - 1) or h // ratio != bh:
        raise ConfigError(f"size {h}x{w} must be the base {bh}x{bw} times a power of two")
    if len(cfg.minibatch) != cfg.n_stages:
        raise ConfigError(f"minibatch needs one entry per stage ({cfg.n_stages}), got {len(cfg.minibatch)}")
    if cfg.phase_scale is not None and (len(cfg.phase_scale) != cfg.n_stages or min(cfg.phase_scale) <= 0):
        raise ConfigError(f"phase_scale needs one factor > 0 per stage ({cfg.n_stages}), got {list(cfg.phase_scale)}")
    if min(cfg.minibatch) < 1:
        raise ConfigError("every minibatch must be >= 1")
    _positive(cfg, "fmap_base", "fmap_max", "latent_size", "lr", "phase_kimg", "total_kimg", "kimg_per_tick",
              "ticks_per_checkpoint", "keep_last", "phantom_n", "grid_per_view", "grid_cols")
    if cfg.transition_kimg < 0 or cfg.gp_weight < 0 or cfg.drift_weight < 0 or cfg.aux_weight < 0:
        raise ConfigError("transition_kimg, gp_weight, drift_weight and aux_weight must be >= 0")
    if not 0.0 <= cfg.ema_beta < 1.0:
        raise ConfigError(f"ema_beta must be in [0, 1), got {cfg.ema_beta}")
    if cfg.d_steps_start < 1 or cfg.d_steps_end < 1:
        raise ConfigError("d_steps_start and d_steps_end must be >= 1")
    if cfg.d_steps_ramp_kimg[1] < cfg.d_steps_ramp_kimg[0]:
        raise ConfigError("d_steps_ramp_kimg must be (start, end) with end >= start")
    if cfg.precision not in ("fp32", "bf16"):
        raise ConfigError(f"precision must be fp32 or bf16, got {cfg.precision!r}")
    if cfg.swd_per_view < 0:
        raise ConfigError(f"swd_per_view must be >= 0, got {cfg.swd_per_view}")
    if cfg.opt_reset not in ("fade_in_and_stable", "fade_in"):
        raise ConfigError(f"opt_reset must be fade_in_and_stable or fade_in, got {cfg.opt_reset!r}")
    if cfg.pad_mode not in ("zero", "replicate"):
        raise ConfigError(f"pad_mode must be zero or replicate, got {cfg.pad_mode!r}")
    if cfg.g_output not in ("linear", "clamp"):
        raise ConfigError(f"g_output must be linear or clamp, got {cfg.g_output!r}")
    if cfg.g_views not in ("dataset", "uniform"):
        raise ConfigError(f"g_views must be dataset or uniform, got {cfg.g_views!r}")
    unknown = [a for a in cfg.augment if a not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"unknown augment {', '.join(map(repr, unknown))}; valid: {', '.join(AUGMENTATIONS)}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    return cfg


def _positive(cfg: TrainConfig, *names: str) -> None:
    for n in names:
        if getattr(cfg, n) <= 0:
            raise ConfigError(f"{n} must be > 0, got {getattr(cfg, n)}")


def preset(name: str) -> TrainConfig:
    """Return the named preset ("demo" or "paper").

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    if name == "paper":
        return TrainConfig()
    if name == "demo":
        # 80x64 phantoms, feature maps 64-64-32-16-8. Stages dwell where they are cheap: 5x4 for
        # 4 kimg, 10x8 3+3, 20x16 3+3, 40x32 2.5+2.5, 80x64 fades in over 21-23.5 and trains to 24.
        # From 20x16 on the minibatch is 8 and D takes one step per G step throughout (no ramp):
        # with 16 and the 1 -> 2 ramp, every fade-in from 20x16 on gave D so many images per G
        # update that G lost the dark background and never recovered (grey, striped 80x64 grids,
        # SWD 0.20 vs a 0.04 floor); 8 and one D step give G 2-4x more updates per kimg there.
        # lr 0.002 and one optimizer reset per stage (at fade-in) suit this tiny, short run; SWD
        # of 64 images per view at every snapshot from 20x16 on (reports/demo_run.md).
        return TrainConfig(
            size=(80, 64), fmap_base=256, fmap_max=64, latent_size=64, lr=0.002, ema_beta=0.99,
            opt_reset="fade_in", phase_kimg=2.0, transition_kimg=2.0, phase_scale=(2.0, 1.5, 1.5, 1.25, 1.25),
            minibatch=(16, 16, 8, 8, 8), total_kimg=24.0, d_steps_start=1, d_steps_end=1,
            d_steps_ramp_kimg=(0.0, 0.0), kimg_per_tick=1.0, ticks_per_checkpoint=2, keep_last=3,
            keep_every_kimg=None, phantom_n=256, grid_per_view=8, grid_cols=8, grid_tile=(160, 128),
            swd_per_view=64, num_workers=0,
        )
    raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Return the TrainConfig stored in a config.json or checkpoint dict (unknown keys ignored).

    Raises:
        ConfigError: a stored value is invalid.
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        if k in fields:
            kw[k] = tuple(v) if isinstance(v, list) else v
    return validate(TrainConfig(**kw))


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """Return `cfg` with the non-None `overrides` applied, validated."""
    kept = {k: v for k, v in overrides.items() if v is not None}
    try:
        return validate(dataclasses.replace(cfg, **kept))
    except TypeError as e:
        raise ConfigError(str(e)) from None
