"""Sampling from a trained generator: the scorer's entry point (`load_generator`) and the
fixed-latent rendering that snapshot grids use.

Image i depends only on (seeds[i], views[i]): its latent comes from stream ``Stream.GENERATE_LATENT``
of seeds[i] (`mammoeval.core.seeding`), and G treats samples independently (pixel norm is per pixel, no batch statistics), so
batch size and order do not change the result beyond float rounding of batched kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.seeding import Stream, torch_generator
from mammoeval_train.checkpoint import load_checkpoint
from mammoeval_train.config import config_from_dict
from mammoeval_train.networks import Generator


def latents_for_seeds(seeds: Sequence[int], latent_size: int) -> torch.Tensor:
    """Return float32 [N, latent_size]: row i is N(0, 1) noise from stream `Stream.GENERATE_LATENT` of seeds[i].

    Raises:
        ValueError: a seed is negative.
    """
    rows = [torch.randn(latent_size, generator=torch_generator(int(s), Stream.GENERATE_LATENT)) for s in seeds]
    return torch.stack(rows) if rows else torch.zeros(0, latent_size)


@torch.no_grad()
def render_images(G: Generator, z: torch.Tensor, views: torch.Tensor, *, stage: int, alpha: float,
                  batch_size: int = 16, device: str | torch.device = "cpu") -> torch.Tensor:
    """Return float32 [N, 1, H, W] in [0, 1] on the CPU: G(z, views) mapped from [-1, 1] and clamped.

    Args:
        z: float [N, latent_size]; views: int64 [N] in {0, 1}.
    """
    out = []
    for s in range(0, z.shape[0], batch_size):
        x = G(z[s:s + batch_size].to(device), views[s:s + batch_size].to(device), stage, alpha)
        out.append(((x.float() + 1.0) * 0.5).clamp_(0.0, 1.0).cpu())
    if not out:
        h, w = G.base[0] << stage, G.base[1] << stage
        return torch.zeros(0, 1, h, w)
    return torch.cat(out)


@dataclass(frozen=True)
class LoadedGenerator:
    """The G-EMA of one checkpoint, ready to sample.

    Attributes:
        n_images_shown: schedule position of the checkpoint.
        resolution: (H, W) the generator outputs at its stage and fade alpha.
        config: the run's TrainConfig as a dict.
        stage, alpha: the active stage and its fade-in weight.
    """

    n_images_shown: int
    resolution: tuple[int, int]
    config: dict[str, Any]
    stage: int
    alpha: float
    network: Generator = field(repr=False, compare=False)

    def generate(self, seeds: Sequence[int], views: torch.Tensor, *, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> torch.Tensor:
        """Return float32 [N, 1, H, W] in [0, 1] (on the CPU) from G-EMA for latents seeded by `seeds`.

        Args:
            seeds: N integer seeds, one per image.
            views: int64 [N], 0 (CC) or 1 (MLO).
            batch_size: images per forward pass (does not change the images).
            device: where to compute.

        Raises:
            ValueError: views is not [N] with values in {0, 1}.
        """
        views = torch.as_tensor(views, dtype=torch.int64).cpu()
        if views.shape != (len(seeds),):
            raise ValueError(f"views must have shape [{len(seeds)}], got {tuple(views.shape)}")
        if views.numel() and (views.min() < 0 or views.max() > 1):
            raise ValueError("views must be 0 (CC) or 1 (MLO)")
        net = self.network.to(device)
        z = latents_for_seeds(seeds, int(self.config["latent_size"]))
        return render_images(net, z, views, stage=self.stage, alpha=self.alpha, batch_size=batch_size,
                             device=device)


def load_generator(checkpoint: str | Path, *, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Return the G-EMA stored in a training checkpoint.

    Raises:
        BadInputError: the file is missing, corrupt, not a training checkpoint, or its weights hold NaN/inf.
    """
    ckpt = load_checkpoint(checkpoint)
    cfg = config_from_dict(ckpt["config"])
    G = Generator(cfg, generator=torch_generator(cfg.seed, Stream.NETWORK_INIT))  # overwritten by G_ema below
    try:
        G.load_state_dict(ckpt["G_ema"])
    except RuntimeError as e:
        raise BadInputError(checkpoint, f"G_ema weights do not match the stored config ({str(e).splitlines()[0]})") from None
    G.eval().requires_grad_(False).to(device)
    stage, alpha = int(ckpt["stage"]), float(ckpt["alpha"])
    return LoadedGenerator(n_images_shown=int(ckpt["n_images_shown"]), resolution=cfg.resolution(stage),
                           config=dict(ckpt["config"]), stage=stage, alpha=alpha, network=G)
