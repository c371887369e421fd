"""User-facing seeds (configs, settings, `--seed`) refuse negatives with a one-line error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.core.errors import ConfigError
from mammoeval.data.phantom import write_phantom_dataset
from mammoeval.export.generate import ExportSettings
from mammoeval.report.context import ReportOptions
from mammoeval.score.settings import ScoreSettings
from mammoeval_train.config import preset, validate


def test_user_facing_seeds_refuse_negatives() -> None:
    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        ScoreSettings(seed=-1)
    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        ReportOptions(seed=-2)
    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        validate(dataclasses.replace(preset("demo"), seed=-3))
    with pytest.raises(ConfigError, match="--seed must be an integer >= 0"):
        ExportSettings(n_per_view=1, seed=-4)
    with pytest.raises(ConfigError, match="phantom dataset seed must be an integer >= 0"):
        write_phantom_dataset(Path("unused"), n=1, seed=-5, progress=False)


@pytest.mark.parametrize("args", [["study", "make", "--real", "r", "--fake", "f", "--n", "2", "--out", "o", "--seed", "-1"],
                                  ["study", "score", "answers.csv", "--key", "key.csv", "--seed", "-1"],
                                  ["report", "run", "--seed", "-1"]])
def test_cli_refuses_a_negative_seed_with_one_line(args: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and "seed must be an integer >= 0, got -1" in result.output
