"""Real minibatches in a deterministic order that is a pure function of (seed, global sample counter).

Global sample k (k = images shown so far) is dataset item ``perm_e[k mod n]`` with ``e = k div n`` and
``perm_e`` a permutation drawn from stream ``Stream.TRAIN_EPOCH`` of the seed, item e. A global minibatch of B samples is split into
contiguous shares of B / world_size, one per rank, so the ranks see disjoint data and resuming at
any counter continues the same stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from mammoeval.core.ddp import DistEnv
from mammoeval.core.seeding import Stream, torch_generator
from mammoeval.data.dataset import PreparedDataset


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """Return int64 [n]: the data order of `epoch`."""
    return torch.randperm(n, generator=torch_generator(seed, Stream.TRAIN_EPOCH, epoch))


def sample_indices(seed: int, n: int, start: int, count: int) -> torch.Tensor:
    """Return int64 [count]: dataset indices of global samples start .. start + count - 1."""
    out = []
    k = start
    while k < start + count:
        epoch, offset = divmod(k, n)
        take = min(n - offset, start + count - k)
        out.append(epoch_permutation(seed, epoch, n)[offset:offset + take])
        k += take
    return torch.cat(out)


def rank_share(batch_global: int, env: DistEnv) -> tuple[int, int]:
    """Return (offset, size) of this rank's contiguous share of a global minibatch."""
    size = batch_global // env.world_size
    return env.rank * size, size


class _CounterBatches(torch.utils.data.Sampler[list[int]]):
    """Endless batch sampler: this rank's share of each global minibatch from sample `start` on."""

    def __init__(self, seed: int, n: int, start: int, batch_global: int, env: DistEnv) -> None:
        self.seed, self.n, self.start, self.batch_global, self.env = seed, n, start, batch_global, env

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start
        off, size = rank_share(self.batch_global, self.env)
        while True:
            yield sample_indices(self.seed, self.n, k + off, size).tolist()
            k += self.batch_global


class RealFeed:
    """This rank's real minibatches for one stage: (images float [b, 1, h, w] in [-1, 1], views int64 [b]).

    Args:
        root: prepared dataset; reduction: power-of-two reduction giving the stage's resolution.
        batch_global: minibatch summed over ranks (divisible by world size).
        start: global sample counter of the first batch (= images shown).
        preload_max_mb: hold the whole stage in memory when it fits in this many MiB (float32).
        num_workers: DataLoader workers when streaming.
    """

    def __init__(self, root: Path, *, reduction: int, batch_global: int, env: DistEnv, seed: int, start: int,
                 preload_max_mb: int, num_workers: int) -> None:
        self.ds = PreparedDataset(root, reduction=reduction)
        self.env = env
        self.device = env.device
        n = len(self.ds)
        h, w = self.ds.size
        self._images: torch.Tensor | None = None
        self._known_views: torch.Tensor | None = None
        self._iter: Iterator[tuple[torch.Tensor, torch.Tensor]]
        if n * h * w * 4 <= preload_max_mb * (1 << 20):
            self._images = torch.stack([self.ds[i][0] for i in range(n)])
            self._views = self.ds.view_labels
            self._iter = self._preloaded(seed, n, start, batch_global)
        else:
            loader = torch.utils.data.DataLoader(
                self.ds, batch_sampler=_CounterBatches(seed, n, start, batch_global, env),
                num_workers=num_workers, pin_memory=env.device.type == "cuda",
            )
            self._iter = iter(loader)

    def _preloaded(self, seed: int, n: int, start: int, batch_global: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        assert self._images is not None
        off, size = rank_share(batch_global, self.env)
        k = start
        while True:
            idx = sample_indices(seed, n, k + off, size)
            yield self._images[idx], self._views[idx]
            k += batch_global

    def sample_views(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Return int64 [n] on this rank's device: view labels of n dataset items drawn at random
        with replacement (the dataset's view mix; items of unknown view are not drawn)."""
        if self._known_views is None:
            labels = self.ds.view_labels
            self._known_views = labels[labels >= 0]
        known = self._known_views
        return known[torch.randint(0, len(known), (n,), generator=gen)].to(self.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the next minibatch on this rank's device, images mapped [0, 1] -> [-1, 1]."""
        images, views = next(self._iter)
        images = images.to(self.device, non_blocking=True) * 2.0 - 1.0
        return images, torch.as_tensor(views, dtype=torch.int64).to(self.device)
