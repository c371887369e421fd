"""Two gloo processes on CPU: rank 0 writes the run, both ranks end with identical weights; data sharding."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mammoeval.core.ddp import DistEnv
from mammoeval.core.rundir import list_checkpoints, read_config, read_log
from mammoeval_train.reals import rank_share, sample_indices


def _worker(rank: int, world: int, store: str, data: str, out: str, result_dir: str) -> None:
    from mammoeval_train import train
    from tests.train.trainkit import tiny_config

    # Rendezvous through a file in tmp_path, not a TCP port: a port picked free by the parent can be
    # taken by another process before rank 0 binds it (the flaky failure this replaces).
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:  # train() finds the group initialised and leaves it to us
        s = train(tiny_config(total_kimg=0.1), data=Path(data), out=Path(out), resume=False, progress=False)
    finally:
        dist.destroy_process_group()
    Path(result_dir, f"rank{rank}.txt").write_text(f"{s.weights_sha256} {s.n_images_shown}")


def test_two_gloo_ranks_stay_identical_and_rank0_writes(breast_20x16: Path, tmp_path: Path) -> None:
    out, res = tmp_path / "run", tmp_path / "res"
    res.mkdir()
    # fork: the children reuse the parent's imports (spawn would re-import torch in each)
    store = tmp_path / "rendezvous"  # must not exist yet: gloo's FileStore creates it
    mp.start_processes(_worker, args=(2, str(store), str(breast_20x16), str(out), str(res)), nprocs=2, join=True,
                       start_method="fork")
    r0, r1 = (res / "rank0.txt").read_text(), (res / "rank1.txt").read_text()
    assert r0 == r1  # same weights hash and images shown on both ranks
    assert read_config(out)["world_size"] == 2
    assert list_checkpoints(out) and (out / "grids" / "reals.png").is_file()
    rows = read_log(out)
    assert [r["tick"] for r in rows] == list(range(1, len(rows) + 1))  # one writer: no duplicate rows


def test_ranks_get_disjoint_contiguous_shares_covering_each_epoch_once() -> None:
    envs = [DistEnv(rank=r, world_size=4, local_rank=r, device=torch.device("cpu")) for r in range(4)]
    assert [rank_share(16, e) for e in envs] == [(0, 4), (4, 4), (8, 4), (12, 4)]
    idx = sample_indices(seed=1, n=10, start=0, count=30)
    for epoch in range(3):
        assert sorted(idx[epoch * 10:(epoch + 1) * 10].tolist()) == list(range(10))
    assert not torch.equal(idx[:10], idx[10:20])  # reshuffled every epoch
    # any window is the same slice of the stream, wherever it starts (what resume relies on)
    assert torch.equal(sample_indices(seed=1, n=10, start=7, count=9), idx[7:16])
