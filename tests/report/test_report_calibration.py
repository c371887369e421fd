"""The report judges QA flags with the run's calibration and shows it, with the data-quality findings."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from mammoeval.core import rundir
from mammoeval.data.phantom import render_phantom
from mammoeval.qa.calibration import (
    Calibration,
    CalibrationWarning,
    calibration_cache_path,
    shipped_defaults,
    write_calibration,
)
from mammoeval.qa.detectors import CALIBRATED
from mammoeval.qa.scan import check_image
from mammoeval.report.analysis import analyse_view
from mammoeval.report.context import Tile
from mammoeval.report.gather import gather_run, recorded_calibration
from mammoeval.report.html import render_report
from mammoeval.score.run import CACHE_DIR
from tests.report.conftest import SMALL, PhantomGenerator, make_run, read_json
from tests.report.test_report import stub_check

EVIL = "<b>x</b>"


def _strict(cal_id: str = "cal-strict") -> Calibration:
    """Return a calibration whose thresholds flag any non-zero score, with two data-quality findings."""
    base = shipped_defaults()
    views = {}
    for name, vc in base.views.items():
        views[name] = vc.__class__({d: 1e-4 for d in CALIBRATED}, True, 25, dict(vc.outline_reference))
    findings = ({"id": EVIL, "view": "CC", "detector": "blobs", "score": 3.2, "threshold": 1.1},
                {"id": "m7", "view": "MLO", "detector": "boundary", "score": 2.0, "threshold": 1.3})
    return Calibration(cal_id, "site <a>", 0.02, 1280, (80, 80, 80), views, (), findings)


def _tiles(role: str, first_seed: int, n: int = 4) -> list[Tile]:
    return [Tile(id=f"CC-{role}{i}", view="CC", role=role,
                 image=render_phantom(first_seed + i, size=(80, 64), view="CC").image) for i in range(n)]


def test_galleries_are_judged_with_the_given_calibration_and_show_it():
    """Clean phantoms are flagged under near-zero thresholds and not under the shipped ones."""
    fakes, reals = _tiles("fake", 50), _tiles("real", 70)
    strict = _strict()
    judged = analyse_view("CC", fakes, reals, SMALL, check_image=check_image, calibration=strict)
    assert {r["calibration"] for r in judged.qa_fake + judged.qa_real} == {strict.id}
    rows = [check_image(t.image, view="CC", image_id=t.id)[0] for t in fakes]
    expect = {r.id for r in rows if any(v >= 1e-4 for k, v in r.scores.items() if k in CALIBRATED) or r.any_artifact}
    shown = min(SMALL.n_artifacts, len(expect))
    assert len(judged.artifacts) == shown and {e.tile.id for e in judged.artifacts} <= expect
    assert shown > 0 and not analyse_view("CC", fakes, reals, SMALL, check_image=check_image).artifacts
    cal = judged.calibration
    assert cal["id"] == strict.id and cal["origin"] == "recorded by the scorer for this run"
    assert cal["calibrated"] and cal["n_images"] == 25
    assert [f["id"] for f in cal["data_quality"]] == [EVIL]  # only this view's findings


def test_without_a_recorded_calibration_it_is_fitted_on_the_reports_reals():
    fakes, reals = _tiles("fake", 50), _tiles("real", 70)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)  # shown in the report, not printed
        res = analyse_view("CC", fakes, reals, SMALL, check_image=check_image)
    cal = res.calibration
    assert cal["origin"] == "fitted on this report's real images"
    assert cal["id"] == "defaults" and not cal["calibrated"]  # 4 reals: too few to fit
    assert any("too few real images" in w for w in cal["warnings"])
    assert {r["calibration"] for r in res.qa_fake} == {"defaults"}


def _run_with_recorded(tmp_path: Path, dataset: Path, cal: Calibration, *, store: bool = True) -> Path:
    run = make_run(tmp_path / "run", dataset)
    rows = [json.loads(line) for line in (run / rundir.SCORES_FILE).read_text().splitlines()]
    for row in rows:
        row["qa"]["calibration"] = {"id": cal.id, "source": cal.source}
    (run / rundir.SCORES_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if store:
        write_calibration(cal, calibration_cache_path(run / CACHE_DIR, "real", "0" * 64))
    return run


def test_report_shows_the_recorded_calibration_and_escaped_findings(tmp_path: Path, phantom_dir_80x64: Path):
    cal = _strict("cal-recorded01")
    run = _run_with_recorded(tmp_path, phantom_dir_80x64, cal)
    assert recorded_calibration(run / CACHE_DIR, {"qa": {"calibration": {"id": cal.id}}}) == cal
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(), check_image=stub_check,
                      progress=False)
    res = render_report(data, tmp_path / "out")
    html = res.index.read_text(encoding="utf-8")
    assert html.count("cal-recorded01") >= 2 and "recorded by the scorer for this run" in html
    assert "Data-quality findings" in html
    assert EVIL not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "site &lt;a&gt;" in html
    assert "m7" in html and "boundary" in html  # the MLO finding, in the MLO section
    views = {v["view"]: v for v in read_json(res.json)["views"]}
    assert views["CC"]["calibration"]["id"] == cal.id
    assert [f["id"] for f in views["MLO"]["calibration"]["data_quality"]] == ["m7"]


def test_a_recorded_calibration_missing_from_the_cache_is_refitted(tmp_path: Path, phantom_dir_80x64: Path):
    run = _run_with_recorded(tmp_path, phantom_dir_80x64, _strict("cal-gone"), store=False)
    assert recorded_calibration(run / CACHE_DIR, {"qa": {"calibration": {"id": "cal-gone"}}}) is None
    assert recorded_calibration(run / CACHE_DIR, {"qa": {"calibration": {"id": "defaults"}}}) == shipped_defaults()
    assert recorded_calibration(run / CACHE_DIR, None) is None
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(), check_image=stub_check,
                      progress=False)
    assert all(v.calibration["origin"] == "fitted on this report's real images" for v in data.views)
    assert all(v.calibration["id"] == "defaults" for v in data.views)
