"""Folder mode: two image folders (phantoms) -> one score row in scores.json, gateable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mammoeval.data.imageset import ImageSet
from mammoeval.errors import BadInputError
from mammoeval.gate import run_gate
from mammoeval.score.folder import folder_scores_path, score_folders
from mammoeval.score.run import ScoreBackends
from mammoeval.score.settings import ScoreSettings


class _Suite:
    def __init__(self, views: dict[str, Any]) -> None:
        self.views = views

    def to_json(self) -> dict[str, Any]:
        return {"views": self.views, "unavailable": {}, "memorization": {"rate": 0.0}}


def _suite(real: ImageSet, fake: ImageSet, **kw: Any) -> _Suite:
    assert real.size == fake.size
    n = sum(len(b.ids) for b in fake.iter_batches(4))
    return _Suite({"all": {"swd_avg": {"value": 0.01, "ci": [0.009, 0.011], "floor": 0.005, "n_real": len(real),
                                       "n_fake": n}}})


BACKENDS = ScoreBackends(load_generator=lambda *a, **k: None, compute_suite=_suite, default_metrics=("swd",),
                         open_real=lambda p: None)  # type: ignore[arg-type,return-value]


def test_folder_row_written_and_gateable(phantom_dir_80x64: Path, phantom_dir_160x128: Path, tmp_path: Path) -> None:
    settings = ScoreSettings(qa=False, n_bootstrap=0)
    row = score_folders(phantom_dir_160x128, phantom_dir_80x64, settings=settings, out=tmp_path, progress=False,
                        backends=BACKENDS)
    # The real set (160x128) is seen at the fake set's 80x64.
    assert row["resolution"] == [80, 64] and row["checkpoint"] == f"folder:{phantom_dir_80x64.name}"
    assert row["n_per_view"] == {"CC": 8, "MLO": 8, "all": 16}
    assert row["metrics"]["all"]["swd_avg"]["n_fake"] == 16 and row["kimg"] is None
    written = json.loads((tmp_path / "scores.json").read_text())
    assert written == json.loads(json.dumps(row))
    assert run_gate(tmp_path / "scores.json", baseline=tmp_path / "scores.json")["verdict"] == "pass"


def test_folder_scores_path_and_missing_folder(tmp_path: Path) -> None:
    assert folder_scores_path(tmp_path / "x.json") == tmp_path / "x.json"
    assert folder_scores_path(tmp_path / "out") == tmp_path / "out" / "scores.json"
    with pytest.raises(BadInputError, match="nope: no such file or folder"):
        score_folders(tmp_path / "nope", tmp_path, progress=False, backends=BACKENDS)
