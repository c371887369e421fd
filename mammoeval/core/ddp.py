"""torchrun process-group helpers: rank facts, gradient all-reduce, barriers (gloo on CPU, NCCL on CUDA).

We do not wrap the networks in DistributedDataParallel: the gradient penalty needs a double
backward, which DDP's reducer does not support, and only the active stage's layers get gradients.
Instead every rank runs the same step on its shard and `all_reduce_grads` averages the gradients of
the parameters that have one before the optimizer step; ranks start from identical weights (same
seed), so they stay identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mammoeval.core.errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job.

    Attributes:
        rank, world_size, local_rank: from torchrun's RANK, WORLD_SIZE, LOCAL_RANK (0, 1, 0 alone).
        device: where this rank computes.
        owns_group: True when `init_from_env` created the process group (and must destroy it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on the rank that writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def pick_device(pref: str, local_rank: int = 0) -> torch.device:
    """Return the device for `pref` ("auto", "cpu", "cuda"); CUDA ranks use cuda:LOCAL_RANK.

    Raises:
        ConfigError: "cuda" was asked for and is not available.
    """
    if pref == "cpu" or (pref == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("device cuda was requested but torch sees no CUDA device; use --device cpu")
    return torch.device("cuda", local_rank)


def init_from_env(device_pref: str = "auto") -> DistEnv:
    """Return this process's DistEnv: the only place one is built.

    Uses an already initialised process group (e.g. a test's) as it is; else torchrun's RANK,
    WORLD_SIZE and LOCAL_RANK, creating the group when WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA).
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
        return DistEnv(rank=rank, world_size=world, local_rank=local, device=pick_device(device_pref, local))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0")) if world > 1 else 0
    local = int(os.environ.get("LOCAL_RANK", str(rank))) if world > 1 else 0
    device = pick_device(device_pref, local)
    owns = False
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
        owns = True
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=device, owns_group=owns)


def shutdown(env: DistEnv) -> None:
    """Destroy the process group if `init_from_env` created it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait until every rank gets here (no-op alone)."""
    if env.distributed:
        dist.barrier()


def all_reduce_grads(params: Iterable[torch.nn.Parameter], env: DistEnv) -> None:
    """Replace each existing .grad by its mean over ranks (one flat all-reduce; no-op alone)."""
    if not env.distributed:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= env.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def all_reduce_mean(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Return the mean of tensor `t` over ranks (t itself alone)."""
    if not env.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / env.world_size
