"""End to end: a tiny run trained by the real trainer, scored twice with the real suite and QA
(the second call does no work), then gated; and the real generator seen through the scorer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mammoeval.core.rundir import list_checkpoints
from mammoeval.score.generated import GeneratedImageSet
from mammoeval.score.settings import ScoreSettings


@pytest.fixture(scope="module")
def tiny_run(phantom_dir_80x64: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-stage run (5x4 -> 20x16) on the 80x64 phantoms (seen at 1/4): 12 steps of 4 images,
    checkpoints at 16 (10x8: too small to score), 32 and 48 images (20x16)."""
    from mammoeval_train.config import TrainConfig
    from mammoeval_train.loop import train

    cfg = TrainConfig(size=(20, 16), fmap_base=64, fmap_max=16, latent_size=16, lr=0.002, ema_beta=0.9,
                      phase_kimg=0.008, transition_kimg=0.008, minibatch=(4, 4, 4), total_kimg=0.048,
                      d_steps_start=1, d_steps_end=1, d_steps_ramp_kimg=(0.0, 0.1), kimg_per_tick=0.016,
                      ticks_per_checkpoint=1, keep_last=10, keep_every_kimg=None, grid_per_view=2, grid_cols=2,
                      grid_tile=(20, 16), num_workers=0, device="cpu", seed=5)
    out = tmp_path_factory.mktemp("score_e2e") / "run"
    train(cfg, data=phantom_dir_80x64, out=out, resume=False, progress=False)
    return out


def test_generated_set_from_real_checkpoint_is_deterministic(tiny_run: Path) -> None:
    from mammoeval_train.generate import load_generator

    ref = list_checkpoints(tiny_run)[-1]
    g = load_generator(ref.path)
    assert tuple(g.resolution) == (20, 16)
    a = GeneratedImageSet(g, n_per_view=3, seed=4, source_hash="x", name="a")
    b = GeneratedImageSet(load_generator(ref.path), n_per_view=3, seed=4, source_hash="x", name="b")
    ia = torch.cat([x.images for x in a.iter_batches(2)])
    ib = torch.cat([x.images for x in b.iter_batches(6)])
    assert ia.shape == (6, 1, 20, 16) and torch.allclose(ia, ib, atol=1e-5)
    assert 0.0 <= float(ia.min()) and float(ia.max()) <= 1.0


def test_tiny_run_scored_twice_then_gated(tiny_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("mammoeval.metrics.suite")
    pytest.importorskip("mammoeval.qa.scan")
    from mammoeval.gate import run_gate, update_baseline
    from mammoeval.score.run import score_run

    settings = ScoreSettings(n_per_view=4, n_bootstrap=10, batch_size=8)
    first = score_run(tiny_run, settings=settings, progress=False)
    final = [r for r in list_checkpoints(tiny_run) if r.name not in first.too_small]
    assert [r["checkpoint"] for r in first.new_rows] == [r.name for r in final] and final
    row = first.new_rows[-1]
    assert row["resolution"] == [20, 16] and row["metrics"]["all"]["swd_avg"]["n_fake"] > 0
    assert row["qa"] is not None and (tiny_run / ".cache").is_dir()
    best = json.loads((tiny_run / "best.json").read_text())
    assert best["checkpoint"] in {r.name for r in final} and best["rule"] == "swd"
    size_before = (tiny_run / "scores.jsonl").stat().st_size
    second = score_run(tiny_run, settings=settings, progress=False)
    assert second.new_rows == [] and (tiny_run / "scores.jsonl").stat().st_size == size_before
    baseline = tmp_path / "baseline.json"
    update_baseline(tiny_run, baseline=baseline)
    verdict = run_gate(tiny_run, baseline=baseline)
    swd = next(r for r in verdict["rules"] if r["name"] == "swd_regression")
    assert swd["passed"] and swd["value"] == swd["baseline"]


def test_cli_kill_and_resume(tiny_run: Path, tmp_path: Path) -> None:
    """SIGKILL a scoring subprocess right after its first row lands; the rerun scores the rest."""
    pytest.importorskip("mammoeval.metrics.suite")
    import shutil
    import signal
    import subprocess
    import time

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("scores.jsonl", "best.json", ".cache", "gate.json"))
    cmd = [sys.executable, "-m", "mammoeval", "score", str(run), "--n", "4", "--n-bootstrap", "5", "--no-qa",
           "--no-progress", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scores = run / "scores.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (scores.exists() and scores.stat().st_size):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(scores.read_text().splitlines()) if scores.exists() else 0
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    names = [r["checkpoint"] for r in rows]
    assert len(names) == len(set(names))  # nothing scored twice
    assert len(result["new_rows"]) == len(names) - n_done
    assert set(names) | set(result["too_small"]) == {r.name for r in list_checkpoints(run)}
