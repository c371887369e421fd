"""`mammoeval score` argument handling and bad input through the CLI (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mammoeval.cli import app


@pytest.mark.parametrize("args", [[], ["--real", "a"], ["RUN", "--real", "a", "--fake", "b"]])
def test_score_needs_run_dir_or_both_folders(args: list[str]) -> None:
    res = CliRunner().invoke(app, ["score", *args])
    assert res.exit_code == 2 and "give either RUN_DIR or both --real DIR and --fake DIR" in res.output


def test_score_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["score", str(tmp_path), "--no-progress"])
    assert res.exit_code == 2 and "not a run directory" in res.output and str(tmp_path.name) in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
