"""Scoring goes on past a checkpoint that cannot be loaded: real trainer checkpoints (one truncated,
one foreign) loaded by the real loader; the metrics suite is a cheap stand-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.jsonl import read_jsonl
from mammoeval.core.rundir import SCORE_SKIPS_FILE, checkpoint_name, list_checkpoints
from mammoeval.data.imageset import TensorImageSet
from mammoeval.score.run import ScoreBackends, score_run
from mammoeval.score.settings import ScoreSettings
from mammoeval_train import train
from mammoeval_train.generate import load_generator
from tests.score.test_run import Backends
from tests.train.trainkit import make_breast_dataset, tiny_config

SETTINGS = ScoreSettings(n_per_view=2, n_bootstrap=0, min_side=4, qa=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real run with checkpoints at 64 and 128 images (20x16 from the second stage on)."""
    root = tmp_path_factory.mktemp("badckpt")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = make_breast_dataset(root / "ds", size=(20, 16))
        train(tiny_config(total_kimg=0.128), data=ds, out=root / "run", resume=False, progress=False)
    finally:
        torch.set_num_threads(before)
    return root / "run"


def _backends() -> ScoreBackends:
    g = torch.Generator().manual_seed(0)
    real = TensorImageSet(torch.rand(8, 1, 20, 16, generator=g), torch.tensor([0, 1] * 4))
    fakes = Backends(real)
    b = fakes.backends()
    return ScoreBackends(load_generator=load_generator, compute_suite=b.compute_suite, default_metrics=("swd",),
                         open_real=lambda p: real, scan_image_set=None, compare_scans=None)


def _copy_with_bad(trained: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    good = [r.name for r in list_checkpoints(run)]
    src = run / "checkpoints" / good[-1]
    data = src.read_bytes()
    (run / "checkpoints" / checkpoint_name(96)).write_bytes(data[: len(data) // 2])  # truncated
    torch.save({"not": "ours"}, run / "checkpoints" / checkpoint_name(100))  # foreign
    (run / "config.json").write_text(json.dumps({**json.loads((run / "config.json").read_text()),
                                                 "dataset_path": str(tmp_path)}))
    return run, good


def test_bad_checkpoints_are_recorded_and_the_good_ones_scored(trained: Path, tmp_path: Path) -> None:
    run, good = _copy_with_bad(trained, tmp_path)
    result = score_run(run, settings=SETTINGS, progress=False, backends=_backends())
    assert [r["checkpoint"] for r in result.new_rows] == good
    failed = dict(result.failed)
    assert set(failed) == {checkpoint_name(96), checkpoint_name(100)}
    assert "corrupt or unreadable checkpoint" in failed[checkpoint_name(96)]
    assert "not a mammoeval training checkpoint" in failed[checkpoint_name(100)]
    best = json.loads((run / "best.json").read_text())
    assert best["checkpoint"] in good
    skipped = read_jsonl(run / SCORE_SKIPS_FILE)
    assert {r["checkpoint"] for r in skipped} == set(failed) and all(r["reason"] for r in skipped)
    lines = (run / "scores.jsonl").read_bytes()
    again = score_run(run, settings=SETTINGS, progress=False, backends=_backends())
    assert again.new_rows == [] and dict(again.failed) == failed  # retried, still refused, nothing good lost
    assert (run / "scores.jsonl").read_bytes() == lines
    assert json.loads((run / "best.json").read_text()) == best


def test_when_no_checkpoint_loads_the_call_is_one_line_naming_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset_path": str(tmp_path), "size": [20, 16]}))
    (run / "checkpoints" / checkpoint_name(64)).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(BadInputError, match=r"ckpt-0000000064\.pt: corrupt or unreadable checkpoint.*"
                                            r"no checkpoint could be scored"):
        score_run(run, settings=SETTINGS, progress=False, backends=_backends())
    assert not (run / "best.json").exists()
