"""A tiny run directory with one untrained checkpoint (20x16 generator), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mammoeval.core.fsutil import write_json_atomic
from mammoeval.core.rundir import CONFIG_FILE
from mammoeval_train.checkpoint import RNG_SCHEME, save_checkpoint
from mammoeval_train.networks import Discriminator, Generator
from tests.train.trainkit import tiny_config


def make_run(root: Path, *, n_images_shown: int = 320) -> Path:
    """Write RUN/config.json and RUN/checkpoints/ckpt-N.pt of a seeded, untrained tiny generator at its last stage."""
    cfg = tiny_config()
    G = Generator(cfg, generator=torch.Generator().manual_seed(1))
    D = Discriminator(cfg, generator=torch.Generator().manual_seed(2))
    stage = cfg.n_stages - 1
    write_json_atomic(root / CONFIG_FILE, cfg.to_dict())
    save_checkpoint(root, {
        "n_images_shown": n_images_shown, "tick": 1, "stage": stage, "alpha": 1.0, "phase": None,
        "config": cfg.to_dict(), "dataset_hash": "", "G": G.state_dict(), "D": D.state_dict(),
        "G_ema": G.state_dict(), "opt_G": torch.optim.Adam(G.parameters()).state_dict(),
        "opt_D": torch.optim.Adam(D.parameters()).state_dict(),
        "rng": {"scheme": RNG_SCHEME, "seed": cfg.seed, "counter": n_images_shown}, "time_s": 0.0,
    })
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a run dir holding ckpt-0000000320.pt (read-only: copy it before changing anything)."""
    return make_run(tmp_path_factory.mktemp("tiny_run"))
