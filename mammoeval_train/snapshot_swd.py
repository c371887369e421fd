"""Optional SWD of the G-EMA against real images at each snapshot, for RUN/metrics.jsonl.

The metric itself is `mammoeval.metrics.swd` (the trainer sits above the metrics layer), fed with
a fixed real sample and G-EMA images of fixed latents.

Row keys: ``kimg``, ``n_images_shown``, ``tick``, ``resolution`` ("HxW"), ``n_per_view``,
``swd_avg``, ``swd_l0`` ... (l0 = the current resolution), ``swd_floor_avg`` (the same SWD
between two halves of the real sample: the noise level of so small a sample) and ``seconds``.
Values are raw SWD (not x1e3), over both views together.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from mammoeval.core.errors import BadInputError
from mammoeval.data.dataset import PreparedDataset
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.keys import KEY_SWD_AVG
from mammoeval.metrics.swd import SWDMetric, SWDSettings
from mammoeval_train.generate import latents_for_seeds, render_images
from mammoeval_train.networks import Generator

SWD_SEED_OFFSET = 1_000_000
"""Latent seeds of the SWD sample start here (disjoint from the grid seeds 0 .. 2n-1)."""
SWD_MIN_SIZE = 16
"""SWD needs at least one pyramid level whose short side is >= 16 px (PGGAN's coarsest level)."""


def swd_inputs(n_per_view: int, latent_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the fixed SWD latents float32 [2n, latent] and views int64 [2n] (n CC, then n MLO)."""
    seeds = range(SWD_SEED_OFFSET, SWD_SEED_OFFSET + 2 * n_per_view)
    return latents_for_seeds(seeds, latent_size), torch.tensor([0] * n_per_view + [1] * n_per_view)


def read_real_sample(dataset: Path, *, reduction: int, n_per_view: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the first `n_per_view` images of each view (float32 [M, 1, h, w] in [0, 1]) and their views [M].

    A view the dataset lacks contributes no images.
    """
    images, views = [], []
    for label, view in enumerate(("CC", "MLO")):
        try:
            ds = PreparedDataset(dataset, reduction=reduction, views=(view,))
        except BadInputError:
            continue
        for i in range(min(n_per_view, len(ds))):
            images.append(ds[i][0])
            views.append(label)
    if not images:
        raise BadInputError(dataset, "no CC or MLO images for the snapshot SWD")
    return torch.stack(images), torch.tensor(views, dtype=torch.int64)


def compute_snapshot_swd(G_ema: Generator, *, dataset: Path, reduction: int, stage: int, alpha: float,
                         n_per_view: int, latent_size: int, seed: int,
                         device: torch.device) -> dict[str, Any] | None:
    """Return the SWD part of a metrics.jsonl row, or None when it cannot be computed.

    None means: the stage's short side is under SWD_MIN_SIZE px. Reals are the dataset's first `n_per_view` images per view at `reduction` (the
    stage's resolution); fakes are G-EMA images of the fixed `swd_inputs` latents at (stage, alpha).

    Args:
        G_ema: the generator averaged over steps (what grids and scores use).
        dataset, reduction: the prepared dataset and the power-of-two reduction of this stage.
        n_per_view: images per view in each set (both sets have the same size).
        seed: seeds patch positions and projection directions.
    """
    h, w = G_ema.base[0] << stage, G_ema.base[1] << stage
    if min(h, w) < SWD_MIN_SIZE:
        return None
    t0 = time.perf_counter()
    real, real_views = read_real_sample(dataset, reduction=reduction, n_per_view=n_per_view)
    z, views = swd_inputs(n_per_view, latent_size)
    fake = render_images(G_ema, z, views, stage=stage, alpha=alpha, batch_size=64, device=device)
    metric = SWDMetric(SWDSettings(seed=seed, n_bootstrap=0, min_size=SWD_MIN_SIZE))
    metric.update(ImageBatch(real, real_views, [f"r{i}" for i in range(len(real))]), real=True)
    metric.update(ImageBatch(fake, views, [f"f{i}" for i in range(len(fake))]), real=False)
    result = metric.compute().get("all")
    if not result:
        return None
    row: dict[str, Any] = {"resolution": f"{h}x{w}", "n_per_view": n_per_view}
    row.update({k: float(r.value) for k, r in sorted(result.items())})
    floor = result[KEY_SWD_AVG].floor
    row["swd_floor_avg"] = None if floor is None else float(floor)
    row["seconds"] = time.perf_counter() - t0
    return row
