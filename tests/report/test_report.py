"""The report: sections and numbers from a constructed run, graceful degradation, galleries, escaping, CLI."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.core import rundir
from mammoeval.core.errors import BadInputError
from mammoeval.report.context import ReportOptions
from mammoeval.report.gather import gather_folders, gather_run
from mammoeval.report.html import render_report
from tests.report.conftest import SMALL, PhantomGenerator, make_run, read_json, score_row

SECTIONS = ('id="summary"', 'id="view-CC"', 'id="view-MLO"', 'id="statistics"', 'id="training"')


@dataclass(frozen=True)
class StubQA:
    """Minimal ImageQA: quality = mean grey level, flagged when the id's seed is odd."""

    id: str
    view: str
    quality_score: float
    any_artifact: bool
    reasons: str
    n_calcs: int = 2
    predicted_view: str = "CC"

    def to_row(self) -> dict[str, Any]:
        return {"id": self.id, "view": self.view, "quality_score": self.quality_score,
                "any_artifact": self.any_artifact, "reasons": self.reasons, "n_calcs": self.n_calcs,
                "predicted_view": self.predicted_view, "breast_area_fraction": 0.4}


@dataclass(frozen=True)
class StubCalc:
    diameter_px: float
    contrast: float


@dataclass(frozen=True)
class StubDetails:
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)
    calcs: tuple[StubCalc, ...] = ()


def stub_check(image: np.ndarray, *, view: str | None = None, image_id: str = "") -> tuple[StubQA, StubDetails]:
    odd = image_id.endswith(("1", "3", "5"))
    heat = np.zeros((10, 8), np.float32)
    heat[2:4, 2:4] = 1.0
    qa = StubQA(id=image_id, view=view or "", quality_score=float(image.mean()), any_artifact=odd,
                reasons="checkerboard 0.9" if odd else "")
    return qa, StubDetails(heatmaps={"checkerboard": heat}, calcs=(StubCalc(2.0, 0.2),))


def _report(run: Path, out: Path, *, check=stub_check, options: ReportOptions = SMALL):
    gen = PhantomGenerator()
    data = gather_run(run, options=options, load_generator=lambda p: gen, check_image=check, progress=False)
    return data, render_report(data, out), gen


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, phantom_dir_160x128: Path):
    """One constructed run rendered once (data, result, run dir, out dir) for the read-only tests."""
    root = tmp_path_factory.mktemp("rendered")
    run = make_run(root / "run", phantom_dir_160x128)
    data, res, _ = _report(run, root / "out")
    return data, res, run, root / "out"


def _img_paths(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html) + re.findall(r'<a class="lb" href="([^"]+)"', html)


def test_run_report_has_sections_assets_and_numbers(rendered) -> None:
    data, res, fake_run, out = rendered
    html = res.index.read_text(encoding="utf-8")
    for s in SECTIONS:
        assert s in html
    paths = _img_paths(html)
    assert len(paths) > 20
    for p in paths:  # every thumbnail and every link target exists and decodes
        with Image.open(out / p) as im:
            assert im.size[0] > 0
    # the full-resolution images are the generator's resolution, thumbnails link to them
    fulls = [p for p in re.findall(r'<a class="lb" href="([^"]+)"', html) if "-fake-" in p]
    assert fulls and all(Image.open(out / p).size == (64, 80) for p in fulls)
    rep = read_json(res.json)
    # summary: the checkpoint of best.json, SWD of its row (x1e3 only for display)
    assert rep["summary"]["checkpoint"] == rundir.checkpoint_name(2000)
    assert rep["summary"]["metrics"][0]["key"] == "swd_avg"
    assert rep["summary"]["metrics"][0]["cells"][0]["value"] == "20"
    assert "fid" in rep["summary"]["unavailable"]
    assert rep["gate"]["verdict"] == "fail"
    # figures' numbers: training curves equal log.jsonl, SWD series equal scores.jsonl
    log = rundir.read_log(fake_run)
    assert rep["figures"]["training"]["loss_d"] == [r["loss_d"] for r in log]
    assert rep["figures"]["training"]["selected_kimg"] == 2.0
    assert rep["figures"]["swd"]["series"]["swd_avg"] == [[1.0, 0.05], [2.0, 0.02], [3.0, 0.03]]
    assert "statistics_CC" in rep["figures"] and "statistics_MLO" in rep["figures"]
    # the timeline holds the three snapshots and marks the selected one
    assert html.count("kimg (selected)") == 1
    assert len(data.snapshots) == 3


def _gather(run: Path, options: ReportOptions = SMALL):
    return gather_run(run, options=options, load_generator=lambda p: PhantomGenerator(), check_image=stub_check,
                      progress=False)


def test_generated_samples_use_fixed_seeds_and_reals_match_resolution(fake_run: Path) -> None:
    a, b = _gather(fake_run), _gather(fake_run)
    cc_a, cc_b = a.views[0], b.views[0]
    assert [t.id for t in cc_a.fakes] == [f"CC-seed{i}" for i in range(SMALL.n_grid)]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(cc_a.fakes, cc_b.fakes, strict=True))
    # reals come from the 160x128 dataset reduced to the generator's 80x64, and have the right view
    assert cc_a.reals and all(t.image.shape == (80, 64) and t.view == "CC" for t in cc_a.reals)
    other = _gather(fake_run, ReportOptions(**{**SMALL.__dict__, "seed": 5}))
    assert [t.id for t in other.views[0].fakes][0] == "CC-seed5"


def test_qa_galleries_rank_by_quality_and_show_heatmaps(rendered) -> None:
    data, res, _, out = rendered
    cc = data.views[0]
    means = sorted(float(t.image.mean()) for t in cc.fakes)
    assert [e.quality_score for e in cc.best] == pytest.approx(means[::-1][: SMALL.n_gallery])
    assert [e.quality_score for e in cc.worst] == pytest.approx(means[: SMALL.n_gallery])
    assert cc.artifacts and all(e.reasons == "checkerboard 0.9" for e in cc.artifacts)
    heat_assets = sorted((out / "assets").glob("*-heat.png"))
    assert heat_assets
    with Image.open(heat_assets[0]) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert (rgb[..., 0] - rgb[..., 1]).max() > 50  # red overlay where the detector fired
    assert cc.calc_fake["size_px"] == [2.0] * len(cc.fakes)
    assert "checkerboard 0.9" in res.index.read_text(encoding="utf-8")


def test_nearest_neighbour_pair_regenerated_beside_training_image(rendered) -> None:
    data, res, _, _ = rendered
    (pair,) = data.views[0].nn_pairs
    assert pair.fake is not None and pair.fake.id == "CC-seed3"
    assert np.array_equal(pair.fake.image, data.views[0].fakes[3].image)
    assert pair.train is not None and pair.train.image.shape == (80, 64) and pair.flagged
    assert "possible copy" in res.index.read_text(encoding="utf-8")


def test_missing_inputs_become_notes_not_crashes(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    run = make_run(tmp_path / "run", phantom_dir_80x64, with_scores=False, with_gate=False)
    (run / rundir.LOG_FILE).unlink()
    shutil.rmtree(run / rundir.GRID_DIR)
    shutil.rmtree(run / rundir.CHECKPOINT_DIR)
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(),
                      check_image=None, progress=False)
    res = render_report(data, tmp_path / "out")
    html = res.index.read_text(encoding="utf-8")
    for s in SECTIONS[:1] + SECTIONS[3:]:
        assert s in html
    for why in ("no scores.jsonl yet", "no gate verdict", "no checkpoint in the run", "no log.jsonl"):
        assert why in html
    assert 'id="view-CC"' in html  # reals still shown


def test_strings_from_files_are_escaped(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    evil = "<script>alert(1)</script>"
    run = make_run(tmp_path / "run", phantom_dir_80x64, config_extra={"preset": evil})
    row = score_row(rundir.checkpoint_name(3000), 3.0, 0.01)
    row["unavailable"] = {"fid": evil}
    (run / rundir.SCORES_FILE).write_text(json.dumps(row) + "\n", encoding="utf-8")
    gate = read_json(run / rundir.GATE_FILE)
    gate["rules"][0]["message"] = evil
    (run / rundir.GATE_FILE).write_text(json.dumps(gate), encoding="utf-8")
    _, res, _ = _report(run, tmp_path / "out")
    html = res.index.read_text(encoding="utf-8")
    assert "alert(1)" in html and evil not in html
    assert html.count("<script>") == 1  # only the report's own inline script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_malformed_best_json_is_one_line_error(fake_run: Path) -> None:
    (fake_run / rundir.BEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"best\.json: not valid JSON"):
        gather_run(fake_run, options=SMALL, load_generator=lambda p: PhantomGenerator(), progress=False)


def test_folder_mode_with_scores(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    scores = tmp_path / "scores.json"
    row = score_row("folder:fakes", 0.0, 0.02)
    row.pop("kimg")
    scores.write_text(json.dumps(row), encoding="utf-8")
    data = gather_folders(phantom_dir_80x64, phantom_dir_80x64, scores_file=scores, options=SMALL,
                          check_image=stub_check, progress=False)
    res = render_report(data, tmp_path / "out")
    html = res.index.read_text(encoding="utf-8")
    assert data.mode == "folders" and {v.view for v in data.views} == {"CC", "MLO"}
    assert all(len(v.fakes) == SMALL.n_grid for v in data.views)  # 8 per view in the fixture
    assert "a pair of folders has no training history" in html
    assert read_json(res.json)["summary"]["checkpoint"] == "folder:fakes"


def test_cli_report_prints_where_and_bad_input_is_one_line(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    fake_run = make_run(tmp_path / "run", phantom_dir_80x64)
    runner = CliRunner()
    bad = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "not a run directory" in bad.output and "Traceback" not in bad.output
    both = runner.invoke(app, ["report", str(fake_run), "--real", str(tmp_path)])
    assert both.exit_code == 2 and "not both" in both.output
    # real generator loading fails on the constructed checkpoint: the report still renders, with a note
    ok = runner.invoke(app, ["report", str(fake_run), "--out", str(tmp_path / "rep"), "--n-grid", "2",
                             "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert "index.html" in ok.output
    assert "cannot generate" in (tmp_path / "rep" / "index.html").read_text(encoding="utf-8") or \
        "not installed" in (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")


def test_scorer_fake_ids_map_to_the_scorers_seeds() -> None:
    import torch

    from mammoeval.report.sources import seed_of_fake_id

    row = {"seed": 100, "n_per_view": 8}
    assert seed_of_fake_id("CC-000002", row) == ("CC", 102)
    assert seed_of_fake_id("MLO-000003", row) == ("MLO", 111)
    assert seed_of_fake_id("CC-seed7", {}) == ("CC", 7)
    assert seed_of_fake_id("MLO-000003", {}) is None and seed_of_fake_id("real-12", row) is None
    # same image as the scorer's generation: seeds seed+i over CC then MLO
    gen = PhantomGenerator()
    views = torch.tensor([0] * 8 + [1] * 8)
    scorer = gen.generate(list(range(100, 116)), views)
    view, seed = seed_of_fake_id("MLO-000003", row)
    again = gen.generate([seed], torch.tensor([1]))
    assert torch.equal(again[0], scorer[8 + 3])


def test_real_qa_puts_a_broken_generated_image_last_and_in_the_artifact_gallery() -> None:
    scan = pytest.importorskip("mammoeval.qa.scan")
    from mammoeval.data.phantom import render_phantom
    from mammoeval.report.analysis import analyse_view
    from mammoeval.report.context import Tile

    fakes = [Tile(id=f"CC-seed{i}", view="CC", role="fake",
                  image=render_phantom(40 + i, size=(160, 128), view="CC").image) for i in range(4)]
    broken = fakes[2].image * 0 + 0.5  # constant grey: a broken image
    fakes[2] = Tile(id="CC-seed2", view="CC", role="fake", image=broken.astype(np.float32))
    res = analyse_view("CC", fakes, [], SMALL, check_image=scan.check_image)
    assert res.worst[0].tile.id == "CC-seed2" and res.worst[0].reasons
    assert "CC-seed2" in {e.tile.id for e in res.artifacts}
    assert res.best[0].quality_score >= res.worst[0].quality_score
    assert len(res.qa_fake) == 4 and all("predicted_view" in r for r in res.qa_fake)


def test_nearest_training_pairs_find_an_exact_copy(phantom_dir_160x128: Path) -> None:
    import torch

    from mammoeval.data.dataset import PreparedDataset
    from mammoeval.report.context import Tile
    from mammoeval.report.sources import nearest_training_pairs

    ds = PreparedDataset(phantom_dir_160x128, reduction=2)
    cc = [i for i, r in enumerate(ds.records) if r.view == "CC"]
    copy = ds[cc[3]][0][0].numpy()
    others = [Tile(id=f"CC-seed{i}", view="CC", role="fake",
                   image=np.clip(ds[cc[i]][0][0].numpy()[::-1].copy() * 0.7, 0, 1)) for i in range(3)]
    fakes = [*others, Tile(id="CC-seed9", view="CC", role="fake", image=copy)]
    pairs, note = nearest_training_pairs(fakes, phantom_dir_160x128, n_pairs=2, rng=np.random.default_rng(0))
    assert note == "" and len(pairs) == 2
    assert pairs[0].fake_id == "CC-seed9" and pairs[0].train_id == ds.records[cc[3]].id
    assert pairs[0].distance == pytest.approx(0.0, abs=1e-6) and pairs[1].distance > pairs[0].distance
    assert pairs[0].train is not None and torch.allclose(torch.from_numpy(pairs[0].train.image),
                                                         torch.from_numpy(copy), atol=1e-6)
