"""Fixtures for the trainer tests (helpers live in trainkit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.trainkit import make_breast_dataset


@pytest.fixture(scope="session")
def breast_20x16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-image prepared dataset at 20x16."""
    return make_breast_dataset(tmp_path_factory.mktemp("breast20") / "ds", size=(20, 16))


@pytest.fixture(scope="session")
def breast_40x32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-image prepared dataset at 40x32 (twice the tiny config's size)."""
    return make_breast_dataset(tmp_path_factory.mktemp("breast40") / "ds", size=(40, 32))


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Run each trainer test on one intra-op thread (tiny kernels; restores the previous setting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
