"""Named random streams: every seeded choice draws from ``SeedSequence(seed, spawn_key=(stream, *index))``.

One user-facing seed fans out into independent streams, one per named purpose (`Stream`), each
indexed further by integers (an image index, a view, a pyramid level, a bootstrap replicate).
Per-item seeds make streamed results independent of how batches are cut (batch 1 == batch all),
and NumPy's SeedSequence guarantees that distinct spawn keys give independent streams.

Naming: ``<OWNER>_<PURPOSE>[_REAL|_FAKE]``, the owner being the module or metric that draws
(PHANTOM, TRAIN, NETWORK, GENERATE, SWD, MSSSIM, FEATURES/FID/KID/PRDC, FRD, C2ST, REPORT, STUDY),
the purpose what the draw decides. Values are grouped by owner, unique, and never reused or
renumbered: changing one changes every result drawn from it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import torch

from mammoeval.core.errors import ConfigError


class Stream(IntEnum):
    """The named random streams (the first spawn-key word; values are fixed once published)."""

    PHANTOM_IMAGE = 1
    TRAIN_STEP = 10
    TRAIN_EPOCH = 11
    NETWORK_INIT = 12
    GENERATE_LATENT = 13
    SWD_PATCHES_REAL = 20
    SWD_PATCHES_FAKE = 21
    SWD_DIRECTIONS = 22
    SWD_EQUALISE = 24
    SWD_SUBSETS = 27
    MSSSIM_PAIRS_REAL = 30
    MSSSIM_PAIRS_FAKE = 31
    MSSSIM_SAMPLE_REAL = 32
    MSSSIM_SAMPLE_FAKE = 33
    FEATURES_SAMPLE_REAL = 40
    FEATURES_SAMPLE_FAKE = 41
    KID_SUBSETS = 44
    FEATURES_FID = 46
    FEATURES_FID_INF = 47
    FEATURES_KID_FLOOR_SUBSETS = 48
    FEATURES_KID_FLOOR_SPLIT = 49
    FEATURES_KID_BOOTSTRAP = 50
    FEATURES_PRDC = 51
    MEMORIZATION_BOOTSTRAP = 55
    FRD_SAMPLE_REAL = 60
    FRD_SAMPLE_FAKE = 61
    FRD_FLOOR_SPLIT = 62
    FRD_BOOTSTRAP = 63
    FRD_MATCHED = 64
    C2ST_SAMPLE_REAL = 70
    C2ST_SAMPLE_FAKE = 71
    C2ST_FOLDS = 72
    C2ST_HALF_SAMPLES = 73
    C2ST_FLOOR_SPLIT = 74
    C2ST_FLOOR_FOLDS = 75
    C2ST_MATCHED = 76
    C2ST_MATCHED_FOLDS = 77
    REPORT_FOLDER_PICKS = 80
    REPORT_REAL_PICKS = 81
    REPORT_NN_SEARCH = 82
    REPORT_MSSSIM_PAIRS = 83
    STUDY_ITEMS = 90
    STUDY_BOOTSTRAP = 91


def check_seed(seed: object, name: str = "seed") -> int:
    """Return `seed` when it is an integer >= 0 (what a user-facing seed must be).

    Raises:
        ConfigError: one line naming `name` and the value.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {seed!r}")
    return int(seed)


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
