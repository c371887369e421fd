"""Fixtures: a constructed run directory (no training) and a phantom-backed fake generator.

The run directory follows mammoeval/core/rundir.py and the score contract: config.json, log.jsonl with
LOG_KEYS, one checkpoint file, grids, scores.jsonl rows, best.json and gate.json. Generation is a
`PhantomGenerator` (phantoms rendered from the seed), so nothing here trains.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mammoeval.core import rundir
from mammoeval.core.fsutil import append_jsonl, write_json_atomic
from mammoeval.report.context import ReportOptions
from mammoeval.report.grids import encode_png, tile_grid

SMALL = ReportOptions(n_grid=6, grid_cols=3, n_pairs=3, n_gallery=2, n_artifacts=2, n_nn_pairs=2,
                      n_real_stats=4, n_msssim_pairs=3)
"""Tiny galleries so tests stay fast."""


@dataclass
class PhantomGenerator:
    """Stand-in for LoadedGenerator: image i is the phantom of (seeds[i], views[i]) at `resolution`."""

    resolution: tuple[int, int] = (80, 64)
    n_images_shown: int = 2000
    calls: int = 0

    def generate(self, seeds: Sequence[int], views: torch.Tensor, *, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> torch.Tensor:
        from mammoeval.data.phantom import render_phantom

        self.calls += 1
        out = [render_phantom(1000 + int(s), size=self.resolution, view=("CC", "MLO")[int(v)]).image
               for s, v in zip(seeds, views.tolist(), strict=True)]
        return torch.from_numpy(np.stack(out))[:, None].float()


def score_row(ckpt: str, kimg: float, swd: float, *, memorization: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a scores.jsonl row in the contract format."""
    def m(v: float) -> dict[str, Any]:
        return {"value": v, "ci": [v * 0.9, v * 1.1], "floor": v * 0.3, "n_real": 8, "n_fake": 8}

    views = {v: {"swd_avg": m(swd), "swd_80": m(swd * 1.2), "swd_40": m(swd * 0.8), "msssim_fake": m(0.3),
                 "msssim_real": m(0.25)} for v in ("CC", "MLO", "all")}
    return {"checkpoint": ckpt, "n_images_shown": int(kimg * 1000), "kimg": kimg, "resolution": [80, 64],
            "n_per_view": 8, "seed": 0, "metrics": views,
            "unavailable": {"fid": "Inception weights not found: pass --inception-weights PATH"},
            "memorization": memorization or {"rate": 0.0, "pairs": []},
            "qa": {"all": {"artifact_rate": {"real": 0.0, "fake": 0.1}}},
            "timing": {"total_s": 1.0}, "settings": {"metrics": ["swd"]}, "versions": {"mammoeval": "0.1.0"},
            "scored_at": "2026-01-01T00:00:00Z"}


def make_run(root: Path, dataset: Path, *, config_extra: dict[str, Any] | None = None,
             with_scores: bool = True, with_gate: bool = True) -> Path:
    """Write a constructed run directory at `root` whose dataset is `dataset`; return `root`."""
    cfg = {"preset": "demo", "seed": 7, "size": [80, 64], "dataset_path": str(dataset),
           "dataset_hash": "abc123", "versions": {"torch": torch.__version__}, **(config_extra or {})}
    write_json_atomic(root / rundir.CONFIG_FILE, cfg)
    for tick in range(6):
        row = {k: 0.0 for k in rundir.LOG_KEYS}
        row.update(tick=tick, kimg=0.5 * (tick + 1), stage=0, resolution="80x64", loss_d=1.0 / (tick + 1),
                   gp=0.1 * tick, ce_real=0.7 - 0.1 * tick, ce_fake=0.69 - 0.05 * tick, loss_g=-0.5 + tick)
        append_jsonl(root / rundir.LOG_FILE, row)
    (root / rundir.CHECKPOINT_DIR).mkdir()
    grid_img = [np.linspace(0, 1, 80 * 64, dtype=np.float32).reshape(80, 64)] * 4
    for n in (1000, 2000, 3000):
        (root / rundir.CHECKPOINT_DIR / rundir.checkpoint_name(n)).write_bytes(b"not a real checkpoint")
        (root / rundir.GRID_DIR).mkdir(exist_ok=True)
        (root / rundir.GRID_DIR / rundir.fake_grid_name(n)).write_bytes(encode_png(tile_grid(grid_img, cols=2)))
    (root / rundir.GRID_DIR / rundir.REALS_GRID).write_bytes(encode_png(tile_grid(grid_img, cols=2)))
    if with_scores:
        mem = {"rate": 0.5, "pairs": [{"fake_id": "CC-seed3", "train_id": _first_id(dataset, "CC"),
                                       "distance": 0.01, "space": "pixels", "flagged": True}]}
        for n, swd in ((1000, 0.05), (2000, 0.02), (3000, 0.03)):
            append_jsonl(root / rundir.SCORES_FILE, score_row(rundir.checkpoint_name(n), n / 1000, swd,
                                                              memorization=mem))
        write_json_atomic(root / rundir.BEST_FILE, {
            "checkpoint": rundir.checkpoint_name(2000), "n_images_shown": 2000, "kimg": 2.0, "rule": "swd",
            "view": "all", "direction": "min", "value": 0.02, "evidence": [],
            "explanation": "lowest swd_avg (all views)"})
    if with_gate:
        write_json_atomic(root / rundir.GATE_FILE, {
            "verdict": "fail", "exit_code": 1, "scores": "scores.jsonl", "baseline": "baseline.json",
            "checkpoint": rundir.checkpoint_name(2000),
            "rules": [{"name": "swd_regression", "metric": "swd_avg", "view": "all", "value": 0.02,
                       "baseline": 0.01, "limit": "<= baseline * 1.10 or inside CI", "passed": False,
                       "message": "swd_avg rose 100%"}]})
    return root


def _first_id(dataset: Path, view: str) -> str:
    from mammoeval.data.prepared import read_manifest

    return next(r.id for r in read_manifest(dataset) if r.view == view)


@pytest.fixture()
def fake_run(tmp_path: Path, phantom_dir_160x128: Path) -> Path:
    """A constructed run directory (dataset 160x128, generator at 80x64) with scores, best and gate."""
    return make_run(tmp_path / "run", phantom_dir_160x128)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
