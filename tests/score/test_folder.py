"""Folder mode: two image folders (phantoms) -> one score row in scores.json, gateable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mammoeval.core.errors import BadInputError
from mammoeval.data.imageset import ImageSet
from mammoeval.gate import run_gate
from mammoeval.score.folder_mode import folder_scores_path, score_folders
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
    n_real = sum(len(b.ids) for b in real.iter_batches(4))  # reads every real image, as the suite does
    return _Suite({"all": {"swd_avg": {"value": 0.01, "ci": [0.009, 0.011], "floor": 0.005, "n_real": n_real,
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


def _write_pngs(folder: Path, sizes: list[tuple[int, int]], names: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for (h, w), name in zip(sizes, names, strict=True):
        img = np.zeros((h, w), np.uint8)
        img[h // 8: h - h // 8, : w // 2] = rng.integers(60, 200, (h - 2 * (h // 8), w // 2))
        Image.fromarray(img).save(folder / name)


def test_plain_real_folder_of_mixed_sizes_is_fitted_to_the_generated_size(tmp_path: Path) -> None:
    """Real mammograms come in many sizes: a plain real folder is fitted (never enlarged) to the
    generated images' one size; a real image smaller than it in both dimensions is a one-line error."""
    real, fake = tmp_path / "real", tmp_path / "fake"
    _write_pngs(real, [(300, 200), (161, 150), (96, 64), (250, 250)], ["a_L_CC.png", "b_R_MLO.png", "c_L_CC.png",
                                                                        "d_R_MLO.png"])
    _write_pngs(fake, [(80, 64)] * 4, [f"g{i}_{v}.png" for i, v in enumerate(["CC", "MLO", "CC", "MLO"])])
    row = score_folders(real, fake, settings=ScoreSettings(qa=False, n_bootstrap=0), progress=False,
                        backends=BACKENDS)
    assert row["resolution"] == [80, 64] and row["metrics"]["all"]["swd_avg"]["n_real"] == 4
    _write_pngs(tmp_path / "real2", [(300, 200), (40, 30)], ["a_L_CC.png", "tiny_R_CC.png"])
    with pytest.raises(BadInputError, match=r"tiny_R_CC.png: image 40x30 is smaller than the size 80x64"):
        score_folders(tmp_path / "real2", fake, settings=ScoreSettings(qa=False, n_bootstrap=0), progress=False,
                      backends=BACKENDS)
