"""What a score depends on (`ScoreSettings`) and the hash that keys score rows.

A row of scores.jsonl is keyed by (checkpoint file name, `settings_hash`): rescoring with other
settings (another `n_per_view`, seed, metric list, bootstrap count, QA on/off, Inception weights or
real dataset) is explicit and adds new rows; the same settings never score a checkpoint twice.
The device, batch size, worker count and memory budget do not enter the hash: they do not change
the numbers beyond float rounding (the worker count not at all).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mammoeval.core.errors import ConfigError
from mammoeval.core.fsutil import sha256_strings
from mammoeval.core.seeding import check_seed


@dataclass(frozen=True)
class ScoreSettings:
    """Settings of one scoring pass.

    Attributes:
        n_per_view: generated images per view (CC and MLO), so 2 * n_per_view per checkpoint.
        seed: image i (0 <= i < 2 * n_per_view) is generated from latent seed `seed + i`; the first
            n_per_view are CC, the rest MLO. Also seeds every metric.
        metrics: metric names for `mammoeval.metrics.suite.compute_suite` (None = its defaults).
        n_bootstrap: bootstrap replicates behind every confidence interval.
        qa: also run the QA scan (artifact rates, calcification statistics) on both sets.
        inception_weights: path of the FID Inception weights (None = the suite's search order).
        device: "cpu", "cuda", "cuda:1", ...: where images are generated and features computed.
        batch_size: images per generator / metric batch.
        cache_max_mb: generated images of one checkpoint are kept in memory (so the QA pass does not
            regenerate them) only when they fit in this many MiB; above it they are regenerated,
            identically, for each pass, and memory stays bounded whatever `n_per_view`.
        min_side: checkpoints whose short side is below this many pixels are not scored (the SWD
            pyramid needs a 16-px level).
        workers: processes for the per-image work (QA checks, features; see `mammoeval.core.pool`);
            None = the cores this process may use, 1 = none (all work in this process). Ignored
            under torchrun, where the ranks share that work.
    """

    n_per_view: int = 256
    seed: int = 0
    metrics: tuple[str, ...] | None = None
    n_bootstrap: int = 200
    qa: bool = True
    inception_weights: str | None = None
    device: str = "cpu"
    batch_size: int = 16
    cache_max_mb: int = 512
    min_side: int = 16
    workers: int | None = None

    def __post_init__(self) -> None:
        check_seed(self.seed)
        for name in ("n_per_view", "batch_size", "min_side"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.n_bootstrap < 0 or self.cache_max_mb < 0:
            raise ConfigError("n_bootstrap and cache_max_mb must be >= 0")

    def key_fields(self, *, metrics: Sequence[str], real_hash: str) -> dict[str, Any]:
        """Return the fields that change the numbers (what `settings_hash` hashes)."""
        weights = str(Path(self.inception_weights).resolve()) if self.inception_weights else None
        return {"n_per_view": self.n_per_view, "seed": self.seed, "metrics": list(metrics),
                "n_bootstrap": self.n_bootstrap, "qa": self.qa, "inception_weights": weights,
                "real_hash": real_hash}

    def settings_hash(self, *, metrics: Sequence[str], real_hash: str) -> str:
        """Return a 16-hex-digit hash of `key_fields`."""
        text = json.dumps(self.key_fields(metrics=metrics, real_hash=real_hash), sort_keys=True)
        return sha256_strings([text])[:16]

    def to_json(self, *, metrics: Sequence[str], real_hash: str) -> dict[str, Any]:
        """Return the row's "settings" object: key fields, their hash and the run-time knobs."""
        return {**self.key_fields(metrics=metrics, real_hash=real_hash),
                "settings_hash": self.settings_hash(metrics=metrics, real_hash=real_hash),
                "device": self.device, "batch_size": self.batch_size}
