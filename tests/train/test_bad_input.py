"""Datasets the trainer cannot use are refused before training with one line naming the dataset
(CLI: exit code 2, no traceback, nothing written to the run's log)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval_train import config as config_module
from mammoeval_train.loop import train
from tests.train.trainkit import make_breast_dataset, tiny_config


def _cli_train(data: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(config_module, "preset", lambda name: tiny_config(total_kimg=0.064))
    r = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-progress"])
    return r.exit_code, r.output


@pytest.mark.parametrize(("kind", "make", "message"), [
    ("one view", lambda root: make_breast_dataset(root, n=16, size=(20, 16), views=("CC",)), "no MLO images"),
    ("too few", lambda root: make_breast_dataset(root, n=4, size=(20, 16)), "4 images, fewer than one minibatch"),
    ("wrong size", lambda root: make_breast_dataset(root, n=16, size=(24, 16)), "is not the target size 20x16"),
])
def test_unusable_dataset_is_one_line_exit_2(kind: str, make: object, message: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = make(tmp_path / "ds")  # type: ignore[operator]
    code, output = _cli_train(data, tmp_path / "run", monkeypatch)
    assert code == 2, output
    assert message in output and str(data.name) in output, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_library_raises_the_named_errors(tmp_path: Path) -> None:
    one_view = make_breast_dataset(tmp_path / "mlo_only", n=16, size=(20, 16), views=("MLO",))
    with pytest.raises(BadInputError, match=r"mlo_only: no CC images"):
        train(tiny_config(), data=one_view, out=tmp_path / "r1", resume=False, progress=False)
    odd = make_breast_dataset(tmp_path / "odd", n=16, size=(30, 16))
    with pytest.raises(ConfigError, match=r"odd: dataset size 30x16"):
        train(tiny_config(), data=odd, out=tmp_path / "r2", resume=False, progress=False)
