"""End-to-end training: the run directory, exact resume, kill-and-resume, refusals, NaN handling, bf16."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from mammoeval.core.errors import BadInputError, ConfigError, TrainingDivergedError
from mammoeval.core.rundir import LOG_KEYS, list_checkpoints, read_config, read_log
from mammoeval_train import loop, train
from mammoeval_train.checkpoint import load_checkpoint
from tests.train.trainkit import make_breast_dataset, tiny_config

REPO = Path(__file__).resolve().parents[2]


def test_short_run_writes_the_whole_run_directory(breast_40x32: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = tiny_config()  # 20x16 target on a 40x32 dataset: trained at reduction 2
    s = train(cfg, data=breast_40x32, out=out, resume=False, progress=False)
    assert s.n_images_shown >= 320 and s.stage == 2 and s.resolution == (20, 16)
    conf = read_config(out)
    assert conf["dataset_hash"] == json.loads((breast_40x32 / "dataset.json").read_text())["content_hash"]
    assert conf["size"] == [20, 16] and conf["seed"] == 3 and conf["dataset_reduction"] == 2
    assert set(conf["versions"]) == {"torch", "numpy", "mammoeval", "python"}
    rows = read_log(out)
    assert len(rows) == s.ticks == 10
    assert all(tuple(sorted(r)) == tuple(sorted(LOG_KEYS)) for r in rows)
    assert [r["tick"] for r in rows] == list(range(1, 11))
    assert [r["stage"] for r in rows] == sorted(r["stage"] for r in rows)
    assert {r["resolution"] for r in rows} == {"5x4", "10x8", "20x16"}
    assert any(0 < r["alpha"] < 1 for r in rows)
    assert rows[0]["d_steps"] == 1 and rows[-1]["d_steps"] == 2
    assert all(r["img_per_s"] > 0 and r["gp"] >= 0 and r["ce_real"] >= 0 for r in rows)
    ckpts = list_checkpoints(out)
    assert len(ckpts) == 5 and ckpts[-1].path == s.last_checkpoint  # every 2nd tick; keep_every_kimg None keeps all
    grids = sorted(p.name for p in (out / "grids").iterdir())
    assert "reals.png" in grids and f"fakes-{s.n_images_shown:010d}.png" in grids
    with Image.open(out / "grids" / "reals.png") as im:
        assert im.mode == "L" and im.size == (2 * 32 + 2, 40 + 4 + 40)  # 2 cols of 40x32 tiles; CC row, gap, MLO row


def test_resume_is_bit_identical_to_an_uninterrupted_run(breast_20x16: Path, tmp_path: Path) -> None:
    full = train(tiny_config(total_kimg=0.2), data=breast_20x16, out=tmp_path / "full", resume=False,
                 progress=False)
    half = train(tiny_config(total_kimg=0.1), data=breast_20x16, out=tmp_path / "split", resume=False,
                 progress=False)
    assert half.n_images_shown < full.n_images_shown
    rest = train(tiny_config(total_kimg=0.2), data=breast_20x16, out=tmp_path / "split", resume=True,
                 progress=False)
    assert rest.n_images_shown == full.n_images_shown
    assert rest.weights_sha256 == full.weights_sha256
    assert [r["tick"] for r in read_log(tmp_path / "split")] == list(range(1, rest.ticks + 1))


def test_existing_run_needs_resume_and_same_config(breast_20x16: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(tiny_config(total_kimg=0.016), data=breast_20x16, out=out, resume=False, progress=False)
    with pytest.raises(ConfigError, match="already holds a run .* pass --resume"):
        train(tiny_config(total_kimg=0.016), data=breast_20x16, out=out, resume=False, progress=False)
    with pytest.raises(ConfigError, match=r"config.json: --resume with a different config \(lr\)"):
        train(tiny_config(lr=0.01), data=breast_20x16, out=out, resume=True, progress=False)
    with pytest.raises(BadInputError, match="nothing to resume"):
        train(tiny_config(), data=breast_20x16, out=tmp_path / "empty", resume=True, progress=False)


def test_dataset_size_must_match_the_config(tmp_path: Path) -> None:
    ds = make_breast_dataset(tmp_path / "odd", n=4, size=(30, 24))
    with pytest.raises(ConfigError, match=r"odd: dataset size 30x24 is not the target size 20x16"):
        train(tiny_config(), data=ds, out=tmp_path / "run", resume=False, progress=False)


def test_nan_loss_stops_with_the_tick_and_keeps_the_last_good_checkpoint(
        breast_20x16: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_d_loss = loop.compute_d_loss
    calls = {"n": 0}

    def poisoned(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        out = real_d_loss(*args, **kwargs)  # type: ignore[arg-type]
        if calls["n"] > 10:  # 10 D steps of 8 = 80 images: two ticks and one checkpoint are done
            return type(out)(out.total * float("nan"), *[getattr(out, f) for f in ("wgan", "gp", "drift",
                                                                                  "ce_real", "ce_fake")])
        return out

    monkeypatch.setattr(loop, "compute_d_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"loss became NaN at tick 3 \(kimg 0\.088; loss_d.*last good "
                                                    r"checkpoint: .*ckpt-0000000064\.pt"):
        train(tiny_config(), data=breast_20x16, out=out, resume=False, progress=False)
    refs = list_checkpoints(out)
    assert [r.n_images_shown for r in refs] == [64]
    load_checkpoint(refs[0].path)  # finite and readable


def test_bf16_autocast_and_channels_last_run_on_cpu(breast_20x16: Path, tmp_path: Path) -> None:
    s = train(tiny_config(total_kimg=0.1, precision="bf16", channels_last=True), data=breast_20x16,
              out=tmp_path / "run", resume=False, progress=False)
    ckpt = load_checkpoint(s.last_checkpoint)  # raises on non-finite weights
    assert ckpt["config"]["precision"] == "bf16"
    assert all(torch.isfinite(torch.tensor(r["loss_d"])) for r in read_log(tmp_path / "run"))


def test_sigkill_then_resume_continues_the_schedule(breast_20x16: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = (
        "import sys, torch; torch.set_num_threads(1);"
        "from pathlib import Path; from tests.train.trainkit import tiny_config; from mammoeval_train import train;"
        "train(tiny_config(total_kimg=50.0, ticks_per_checkpoint=1), data=Path(sys.argv[2]),"
        " out=Path(sys.argv[3]), resume=False, progress=False)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script, "unused", str(breast_20x16), str(out)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not list_checkpoints(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert list_checkpoints(out), "no checkpoint appeared before the deadline"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    last = list_checkpoints(out)[-1]
    before = read_log(out)
    s = train(tiny_config(total_kimg=last.kimg + 0.064, ticks_per_checkpoint=1), data=breast_20x16, out=out,
              resume=True, progress=False)
    assert s.n_images_shown >= last.n_images_shown + 64
    rows = read_log(out)
    kimgs = [r["kimg"] for r in rows]
    assert kimgs == sorted(kimgs) and [r["tick"] for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) >= len([r for r in before if r["kimg"] <= last.kimg]) + 2
    assert list_checkpoints(out)[-1].n_images_shown == s.n_images_shown


def test_streamed_and_preloaded_reals_train_identically(breast_20x16: Path, tmp_path: Path) -> None:
    cfg = tiny_config(total_kimg=0.05)
    pre = train(cfg, data=breast_20x16, out=tmp_path / "pre", resume=False, progress=False)
    streamed = train(tiny_config(total_kimg=0.05, preload_max_mb=0, num_workers=1), data=breast_20x16,
                     out=tmp_path / "stream", resume=False, progress=False)
    assert streamed.weights_sha256 == pre.weights_sha256
