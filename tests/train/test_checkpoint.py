"""Checkpoints (weights_only round trip, corrupt and non-finite files, pruning) and `load_generator`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import load_torch_safe
from mammoeval.core.rundir import list_checkpoints
from mammoeval_train import load_generator, train
from mammoeval_train.checkpoint import load_checkpoint, prune_checkpoints, save_checkpoint
from tests.train.trainkit import tiny_config


@pytest.fixture(scope="module")
def short_run(breast_20x16: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the function-scoped one-thread fixture
    train(tiny_config(total_kimg=0.1, ticks_per_checkpoint=1), data=breast_20x16, out=out, resume=False,
          progress=False)
    torch.set_num_threads(before)
    return out


def test_checkpoint_round_trip_weights_only(short_run: Path) -> None:
    ref = list_checkpoints(short_run)[-1]
    raw = load_torch_safe(ref.path)  # weights_only=True: plain tensors, numbers, strings only
    ckpt = load_checkpoint(ref.path)
    assert ckpt["n_images_shown"] == ref.n_images_shown == raw["n_images_shown"]
    assert ckpt["config"]["size"] == [20, 16] and ckpt["rng"]["seed"] == 3
    assert set(ckpt) >= {"G", "D", "G_ema", "opt_G", "opt_D", "tick", "stage", "alpha", "phase", "time_s"}
    # saving what was loaded reproduces the same tensors
    copy_dir = short_run.parent / "copy"
    path = save_checkpoint(copy_dir, {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    again = load_checkpoint(path)
    for net in ("G", "D", "G_ema"):
        for k, v in ckpt[net].items():
            assert torch.equal(v, again[net][k])
    assert again["opt_D"]["param_groups"][0]["betas"] == (0.0, 0.99)


def test_load_generator_samples_are_batch_independent(short_run: Path) -> None:
    ref = list_checkpoints(short_run)[-1]
    gen = load_generator(ref.path)
    assert gen.n_images_shown == ref.n_images_shown
    assert gen.resolution == (10, 8)  # 0.1 kimg with 64-image phases: stage 1 fading in
    assert gen.config["latent_size"] == 16
    seeds = [11, 12, 13, 14, 15]
    views = torch.tensor([0, 1, 0, 1, 0])
    a = gen.generate(seeds, views, batch_size=16)
    b = gen.generate(seeds, views, batch_size=1)
    assert a.shape == (5, 1, 10, 8) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # image i depends only on (seed i, view i)
    torch.testing.assert_close(gen.generate([13], torch.tensor([0]))[0], a[2], atol=1e-6, rtol=0)
    assert not torch.equal(a[0], a[2])
    with pytest.raises(ValueError, match="views"):
        gen.generate([1, 2], torch.tensor([0, 2]))


def test_corrupt_checkpoint_is_bad_input(short_run: Path, tmp_path: Path) -> None:
    src = list_checkpoints(short_run)[-1].path
    bad = tmp_path / "ckpt-0000000001.pt"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(BadInputError, match="ckpt-0000000001.pt: corrupt or unreadable"):
        load_generator(bad)
    with pytest.raises(BadInputError, match="no such checkpoint"):
        load_generator(tmp_path / "missing.pt")


def test_nonfinite_weights_are_refused(short_run: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(list_checkpoints(short_run)[-1].path)
    state = {k: v for k, v in ckpt.items() if k not in ("format", "version")}
    key = next(iter(state["G_ema"]))
    state["G_ema"] = {**state["G_ema"], key: torch.full_like(state["G_ema"][key], float("nan"))}
    with pytest.raises(ValueError, match="non-finite G_ema"):
        save_checkpoint(tmp_path, state)
    # a file written by other means is caught on load, naming the file
    import io

    from mammoeval.core.fsutil import write_bytes_atomic

    buf = io.BytesIO()
    torch.save({"format": ckpt["format"], "version": 1, **state}, buf)
    write_bytes_atomic(tmp_path / "nan.pt", buf.getvalue())
    with pytest.raises(BadInputError, match=r"nan\.pt: G_ema weights hold NaN or inf"):
        load_generator(tmp_path / "nan.pt")


def test_prune_keeps_last_and_first_of_each_period(tmp_path: Path) -> None:
    d = tmp_path / "checkpoints"
    d.mkdir()
    for n in (100, 900, 1100, 1500, 2100, 2600, 2900):
        (d / f"ckpt-{n:010d}.pt").write_bytes(b"x")
    deleted = prune_checkpoints(tmp_path, keep_last=2, keep_every_kimg=1.0)
    kept = [r.n_images_shown for r in list_checkpoints(tmp_path)]
    assert kept == [100, 1100, 2100, 2600, 2900]
    assert sorted(p.name for p in deleted) == ["ckpt-0000000900.pt", "ckpt-0000001500.pt"]
    assert prune_checkpoints(tmp_path, keep_last=1, keep_every_kimg=None) == []
