"""The CLI shell: command groups, one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from mammoeval.cli import _OneLineErrors, app
from mammoeval.core.errors import BadInputError

runner = CliRunner()


def test_help_lists_every_command_group() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("data", "train", "score", "report", "gate", "qa"):
        assert group in result.output, group


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "mammoeval", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "data" in out.stdout


def test_mammoeval_error_becomes_one_line_and_exit_2() -> None:
    toy = typer.Typer(cls=_OneLineErrors)

    @toy.command()
    def boom() -> None:
        raise BadInputError("/data/scan_007.dcm", "truncated file")

    @toy.command()
    def fine() -> None:
        typer.echo("ok")

    result = runner.invoke(toy, ["boom"])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == ["error: /data/scan_007.dcm: truncated file"]
    assert "Traceback" not in result.output
    assert runner.invoke(toy, ["fine"]).exit_code == 0
