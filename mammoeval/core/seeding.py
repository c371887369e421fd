"""Named random streams: every seeded choice draws from ``SeedSequence(seed, spawn_key=(stream, *index))``.

One user-facing seed fans out into independent streams, one per named purpose (`Stream`), each
indexed further by integers (an image index, a view, a pyramid level, a bootstrap replicate).
Per-item seeds make streamed results independent of how batches are cut (batch 1 == batch all),
and NumPy's SeedSequence guarantees that distinct spawn keys give independent streams.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import torch


class Stream(IntEnum):
    """The named random streams (the first spawn-key word; values are fixed once published)."""

    PHANTOM_IMAGE = 1
    TRAIN_STEP = 10
    TRAIN_EPOCH = 11
    SWD_PATCHES_REAL = 20
    SWD_PATCHES_FAKE = 21
    SWD_DIRECTIONS = 22
    SWD_FLOOR_SPLIT = 23
    SWD_EQUALISE = 24
    SWD_BOOTSTRAP = 25
    SWD_BOOTSTRAP_DIRECTIONS = 26
    MSSSIM_PAIRS_REAL = 30
    MSSSIM_PAIRS_FAKE = 31
    MSSSIM_SAMPLE_REAL = 32
    MSSSIM_SAMPLE_FAKE = 33
    MSSSIM_BOOTSTRAP = 34
    FEATURES_SAMPLE_REAL = 40
    FEATURES_SAMPLE_FAKE = 41
    FEATURES_FLOOR_SPLIT = 42
    FID_BOOTSTRAP = 43
    KID_SUBSETS = 44
    PRDC_BOOTSTRAP = 45


def seed_sequence(seed: int, stream: Stream, *index: int) -> np.random.SeedSequence:
    """Return the SeedSequence of `stream` (item `index`) under the user's `seed` (all >= 0)."""
    if seed < 0 or any(i < 0 for i in index):
        raise ValueError(f"seed and stream indices must be >= 0, got seed={seed}, index={index}")
    return np.random.SeedSequence(seed, spawn_key=(int(stream), *index))


def stream_seed(seed: int, stream: Stream, *index: int) -> int:
    """Return a 63-bit integer seed of `stream` (item `index`): for torch generators and APIs that take an int."""
    state = seed_sequence(seed, stream, *index).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def numpy_rng(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """Return a NumPy Generator on `stream` (item `index`)."""
    return np.random.default_rng(seed_sequence(seed, stream, *index))


def torch_generator(seed: int, stream: Stream, *index: int) -> torch.Generator:
    """Return a CPU torch.Generator on `stream` (item `index`)."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, *index))
