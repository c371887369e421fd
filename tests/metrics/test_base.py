"""PrioritySample (bounded streaming sample) and the bootstrap helper."""

from __future__ import annotations

import numpy as np
import torch

from mammoeval.metrics.base import PrioritySample
from mammoeval.metrics.uncertainty import bootstrap_ci


def _fill(cap: int, batch: int, n: int = 50) -> PrioritySample:
    keys = torch.rand(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = PrioritySample(cap)
    for i in range(0, n, batch):
        s.add({"x": torch.arange(i, min(i + batch, n))}, keys[i:i + batch])
    return s


def test_sample_is_the_smallest_keys_whatever_the_batches() -> None:
    keys = torch.rand(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = torch.sort(torch.argsort(keys)[:10]).values
    for batch in (1, 3, 7, 50):
        s = _fill(10, batch)
        assert torch.equal(s.get("x"), expected)
        assert len(s) == 10 and s.n_seen == 50
    restored = PrioritySample.from_state(_fill(10, 4).state())
    assert torch.equal(restored.get("x"), expected)


def test_memory_never_exceeds_cap_plus_slack() -> None:
    s = PrioritySample(8)
    for i in range(100):
        s.add({"x": torch.tensor([i])}, torch.rand(1, dtype=torch.float64))
        assert sum(int(k.shape[0]) for k in s.keys) <= 8 + s.slack


def test_bootstrap_interval_covers_the_mean_and_is_seeded() -> None:
    v = np.random.default_rng(0).normal(1.0, 0.1, size=400)
    lo, hi = bootstrap_ci(v, n_bootstrap=300, seed=1)
    assert lo < v.mean() < hi and hi - lo < 0.05
    assert bootstrap_ci(v, n_bootstrap=300, seed=1) == (lo, hi)
    assert bootstrap_ci(v, n_bootstrap=0) is None
