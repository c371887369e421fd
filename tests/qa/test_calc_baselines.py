"""The top-hat calcification baselines of benchmarks/calc_baselines.py (comparison only, not the detector)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "calc_baselines.py"
_spec = importlib.util.spec_from_file_location("calc_baselines", _PATH)
assert _spec is not None and _spec.loader is not None
calc_baselines = importlib.util.module_from_spec(_spec)
sys.modules["calc_baselines"] = calc_baselines
_spec.loader.exec_module(calc_baselines)


def test_local_threshold_is_block_median_plus_k_mad():
    rng = np.random.default_rng(0)
    tophat = np.zeros((64, 64), np.float32)
    tophat[:, :32] = rng.random((64, 32)) * 0.2  # left half textured, right half flat
    inner = np.ones((64, 64), bool)
    cfg = calc_baselines.TophatConfig("local", block_px=32, local_k=3.0)
    thr = calc_baselines._local_threshold(tophat, inner, cfg)
    sub = tophat[:32:2, :32:2].ravel()  # one block, every other pixel
    ref = np.sort(sub)[(sub.size - 1) // 2] + 3.0 * 1.4826 * np.sort(np.abs(sub - np.sort(sub)[(sub.size - 1) // 2]))[
        (sub.size - 1) // 2]
    assert thr[0, 0] == pytest.approx(ref, rel=1e-5)  # corners take the block value unchanged
    assert thr[0, 63] == pytest.approx(0.0, abs=1e-7)
    assert np.all(np.diff(thr[10], axis=0) <= 1e-7)  # falls monotonically from textured to flat
    # blocks mostly outside the breast take their nearest full neighbour's value
    inner[:, 36:] = False  # under a quarter of the right blocks is breast
    thr2 = calc_baselines._local_threshold(tophat, inner, cfg)
    assert thr2[0, 63] == pytest.approx(thr2[0, 0], rel=1e-5)
