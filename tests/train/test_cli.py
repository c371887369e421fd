"""`mammoeval train`: dry run, a tiny run through the CLI, resume, one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.core.rundir import list_checkpoints, read_config
from mammoeval_train import config as config_module
from tests.train.trainkit import tiny_config


def test_dry_run_prints_the_resolved_config(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), "--preset", "paper", "--kimg", "20000",
                                 "--precision", "bf16", "--dry-run"])
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.output)
    assert cfg["size"] == [1280, 1024] and cfg["total_kimg"] == 20000 and cfg["precision"] == "bf16"
    assert not (tmp_path / "run").exists()


def test_tiny_run_and_resume_through_the_cli(breast_20x16: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "preset", lambda name: tiny_config(total_kimg=0.064))
    out = tmp_path / "run"
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--data", str(breast_20x16), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "trained to kimg 0.1" in r.output and list_checkpoints(out)
    r = runner.invoke(app, ["train", "--data", str(breast_20x16), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2 and "pass --resume" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["train", "--data", str(breast_20x16), "--out", str(out), "--resume", "--kimg", "0.128",
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    assert read_config(out)["total_kimg"] == 0.128
    assert list_checkpoints(out)[-1].n_images_shown >= 128


def test_bad_option_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), "--precision", "fp8", "--dry-run"])
    assert r.exit_code == 2
    assert "precision must be fp32 or bf16" in r.output and "Traceback" not in r.output
