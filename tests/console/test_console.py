"""Console: each warning once as one line; the score table fits a narrow terminal; --out/--json agree."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.console import format_warning, warnings_once


def test_each_distinct_message_prints_once_as_one_line_even_after_registry_resets() -> None:
    buf = io.StringIO()
    with warnings_once(buf):
        for _ in range(5):
            warnings.warn("FID from 8 samples in 70 dimensions: biased\nsecond line", UserWarning, stacklevel=1)
            with warnings.catch_warnings():  # what libraries do; it resets the "already shown" registry
                warnings.simplefilter("ignore", RuntimeWarning)
            warnings.warn("another condition", RuntimeWarning, stacklevel=1)
    assert buf.getvalue().splitlines() == ["warning: FID from 8 samples in 70 dimensions: biased",
                                           "warning: another condition"]
    assert format_warning(UserWarning("")) == "warning: UserWarning"


def test_display_is_restored_after_the_block() -> None:
    before = warnings.showwarning
    with warnings_once(io.StringIO()):
        pass
    assert warnings.showwarning is before


def test_cli_prints_the_fid_warning_once_without_source_lines(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    res = CliRunner().invoke(app, ["score", "--real", str(phantom_dir_80x64), "--fake", str(phantom_dir_80x64),
                                   "--metrics", "fid_offline", "--no-qa", "--n-bootstrap", "5", "--no-progress",
                                   "--out", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if "warning" in ln.lower()]
    assert lines and all(ln.startswith("warning: ") for ln in lines)
    assert len(lines) == len(set(lines))
    assert "warnings.warn" not in res.stderr and ".py:" not in res.stderr


def test_score_table_fits_a_narrow_terminal() -> None:
    from mammoeval.score.summary import render_summary

    row = {"checkpoint": "ckpt-0000001234.pt", "kimg": 1.234, "resolution": [1280, 1024],
           "metrics": {"all": {"swd_avg": {"value": 0.0123, "ci": [0.011, 0.0135]},
                               "fid": {"value": 123.4, "ci": None}, "c2st_auc": {"value": 0.61, "ci": [0.55, 0.67]},
                               "msssim_fake": {"value": 0.3}, "msssim_real": {"value": 0.29}}},
           "timing": {"total_s": 12.5}}
    for width in (60, 80, 120):
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(render_summary([row], {"checkpoint": row["checkpoint"]}, title="scores"))
        text = console.export_text()
        assert max(len(ln) for ln in text.splitlines()) <= width
        assert "ckpt-0000001234.pt" in text.replace("\n", "") or "ckpt-00000012" in text
        assert "0.61" in text


def test_gate_out_writes_the_verdict_and_json_prints_it(tmp_path: Path) -> None:
    row = {"checkpoint": "a.pt", "metrics": {"all": {"swd_avg": {"value": 0.01, "ci": None}}}}
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps(row))
    runner = CliRunner()
    base = tmp_path / "base.json"
    assert runner.invoke(app, ["gate", str(scores), "--baseline", str(base), "--update-baseline"]).exit_code == 0
    res = runner.invoke(app, ["gate", str(scores), "--baseline", str(base), "--out", str(tmp_path / "v.json"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads((tmp_path / "v.json").read_text())
