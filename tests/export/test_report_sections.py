"""The report links the run's exports, shows C2ST with the other metrics, and a finished reader study."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import append_jsonl, read_jsonl, write_json_atomic
from mammoeval.report.extras import read_study
from mammoeval.report.gather import gather_run
from mammoeval.report.html import render_report
from tests.report.conftest import SMALL, PhantomGenerator, make_run


def _study_results(path: Path) -> Path:
    write_json_atomic(path, {
        "readers": {"R1": {"n": 12, "auc": 0.625, "ci": [0.4, 0.8], "accuracy": 0.58, "undecided": 0.1,
                           "views": {"CC": {"auc": 0.7}, "MLO": {"auc": 0.55}}}},
        "pooled": {"n": 12, "auc": 0.625, "ci": [0.41, 0.79], "accuracy": 0.58, "undecided": 0.1, "views": {}},
        "n_items": 12, "n_items_rated": 12, "scale": "1 surely generated ... 5 surely real"})
    return path


def test_report_shows_exports_c2st_and_study(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    run = make_run(tmp_path / "run", phantom_dir_80x64)
    rows = read_jsonl(run / "scores.jsonl")
    (run / "scores.jsonl").unlink()
    for r in rows:
        for v in r["metrics"]:
            r["metrics"][v]["c2st_auc"] = {"value": 0.734, "ci": [0.6, 0.85], "floor": 0.51, "n_real": 8, "n_fake": 8}
        append_jsonl(run / "scores.jsonl", r)
    export = tmp_path / "exported"
    export.mkdir()
    (export / "manifest.json").write_text("{}")
    append_jsonl(run / "exports.jsonl", {"out": str(export), "manifest": str(export / "manifest.json"),
                                         "checkpoint": "ckpt-0000002000.pt", "format": "dicom", "bits": 12,
                                         "n_images": 4, "views": ["CC", "MLO"], "seed": 0, "created": "now"})
    _study_results(run / "study_results.json")
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(), progress=False)
    res = render_report(data, tmp_path / "report")
    html = res.index.read_text()
    assert 'id="synthetic"' in html and 'id="study-results"' in html
    hrefs = re.findall(r'<a href="([^"]+)">', html)
    assert "../exported" in hrefs and "../exported/manifest.json" in hrefs
    assert (res.index.parent / "../exported/manifest.json").resolve().is_file()
    assert re.search(r"<td>c2st_auc</td><td>0\.734</td><td>\[0\.6, 0\.85\]</td><td>0\.51</td>", html)
    assert re.search(r"<td>R1</td><td>12</td><td>0\.62</td><td>\[0\.40, 0\.80\]</td>", html)
    assert "CC 0.70, MLO 0.55" in html
    saved = json.loads(res.json.read_text())
    assert saved["study"]["readers"]["R1"]["auc"] == 0.625 and saved["exports"][0]["format"] == "dicom"


def test_report_without_exports_or_study_has_no_such_section(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    run = make_run(tmp_path / "run", phantom_dir_80x64)
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(), progress=False)
    assert 'id="synthetic"' not in render_report(data, tmp_path / "r").index.read_text()


def test_study_option_is_checked(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(BadInputError, match="x.json"):
        read_study(tmp_path / "x.json")
    res = CliRunner().invoke(app, ["report", str(tmp_path), "--study", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "missing.json" in res.output and "Traceback" not in res.output
