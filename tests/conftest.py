"""Shared fixtures: tiny seeded phantom datasets, built once per pytest run.

`phantom_dir_80x64` and `phantom_dir_160x128` are prepared datasets (dataset.json, manifest.csv,
images/, findings.json) of 16 phantoms each: 4 per view and laterality, findings on. Treat them as
read-only; copy them (shutil.copytree) before changing anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# In CI (CI=true) the property-based tests draw the same examples on every run, so a red run
# repeats on the next one; locally they draw new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

PHANTOM_FIXTURE_N = 16
PHANTOM_FIXTURE_SEED = 1234


def _make_phantoms(root: Path, size: tuple[int, int]) -> Path:
    from mammoeval.data.phantom import FindingsConfig, write_phantom_dataset

    write_phantom_dataset(root, n=PHANTOM_FIXTURE_N, size=size, seed=PHANTOM_FIXTURE_SEED,
                          findings=FindingsConfig(), progress=False)
    return root


@pytest.fixture(scope="session")
def phantom_dir_80x64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a prepared phantom dataset of 16 images at 80x64 (findings on, seed 1234)."""
    return _make_phantoms(tmp_path_factory.mktemp("phantom_80x64"), (80, 64))


@pytest.fixture(scope="session")
def phantom_dir_160x128(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a prepared phantom dataset of 16 images at 160x128 (findings on, seed 1234)."""
    return _make_phantoms(tmp_path_factory.mktemp("phantom_160x128"), (160, 128))
