"""Helpers for the trainer tests: tiny seeded breast-like prepared datasets and a tiny config."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mammoeval.data.prepared import ManifestRecord, finalize_dataset, write_image
from mammoeval_train.config import TrainConfig


def make_breast_dataset(root: Path, *, n: int = 16, size: tuple[int, int] = (40, 32), seed: int = 0,
                        views: tuple[str, ...] = ("CC", "MLO")) -> Path:
    """Write a prepared dataset of half-ellipse 'breasts' against the left edge (MLO: with a pectoral
    wedge in the top-left corner), cycling through `views` (default alternating CC / MLO), and return its root."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    records = []
    for i in range(n):
        view = views[i % len(views)]
        cy, ry, rx = h * rng.uniform(0.45, 0.55), h * rng.uniform(0.35, 0.45), w * rng.uniform(0.6, 0.85)
        inside = ((yy - cy) / ry) ** 2 + (xx / rx) ** 2 <= 1.0
        img = np.where(inside, 0.45 + 0.1 * rng.standard_normal((h, w)).astype(np.float32), 0.0)
        if view == "MLO":
            img = np.where(xx + yy * 0.6 < w * 0.35, 0.85, img) * inside
        img = np.clip(img, 0.0, 1.0).astype(np.float32)
        rel, digest = write_image(root, f"img{i:04d}", img, bits=8)
        records.append(ManifestRecord(id=f"img{i:04d}", file=rel, view=view, laterality="L", sha256=digest))
    finalize_dataset(root, records, height=h, width=w, bits=8)
    return root


def tiny_config(**overrides: object) -> TrainConfig:
    """Return a 3-stage 20x16 config with a tiny network and a short schedule (kimg in hundreds of images)."""
    base = dict(
        size=(20, 16), fmap_base=64, fmap_max=16, latent_size=16, lr=0.002, ema_beta=0.9,
        phase_kimg=0.064, transition_kimg=0.064, minibatch=(8, 8, 8), total_kimg=0.32,
        d_steps_start=1, d_steps_end=2, d_steps_ramp_kimg=(0.0, 0.2), kimg_per_tick=0.032,
        ticks_per_checkpoint=2, keep_last=2, keep_every_kimg=None, grid_per_view=2, grid_cols=2,
        grid_tile=(40, 32), num_workers=0, device="cpu", seed=3,
    )
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]
