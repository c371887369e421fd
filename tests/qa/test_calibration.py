"""Calibration: robust tail thresholds, per-view fallback, data-quality findings, caching, files, CLI."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from mammoeval.qa.calibration import (
    MIN_IMAGES,
    MIN_NONZERO,
    Calibration,
    CalibrationWarning,
    RealScores,
    calibrate,
    fit_threshold,
    from_json,
    read_calibration,
    shipped_defaults,
    write_calibration,
)
from mammoeval.qa.detectors import CALIBRATED, DETECTORS


def _reals(scores_by_det: dict[str, np.ndarray], view: str = "CC", prefix: str = "r") -> list[RealScores]:
    n = len(next(iter(scores_by_det.values())))
    return [RealScores(f"{prefix}{i}", view, {d: float(s[i]) for d, s in scores_by_det.items()}, None, 320)
            for i in range(n)]


def test_exponential_tail_matches_the_closed_form_quantile():
    # S = 0.3 + Exp(scale 0.1): P(S > t) = exp(-(t - 0.3) / 0.1), so the 2% point is 0.3 + 0.1 ln 50.
    rng = np.random.default_rng(0)
    s = 0.3 + rng.exponential(0.1, 4000)
    assert fit_threshold(s, 0.02) == pytest.approx(0.3 + 0.1 * math.log(50), rel=0.05)


def test_a_few_extreme_reals_barely_move_the_threshold():
    rng = np.random.default_rng(1)
    clean = 0.2 + rng.exponential(0.1, 40)
    bad = np.r_[clean, 30.0, 50.0, 80.0]
    t_clean, t_bad = fit_threshold(clean, 0.02), fit_threshold(bad, 0.02)
    assert t_clean is not None and t_bad is not None
    assert abs(t_bad - t_clean) / t_clean < 0.2
    assert np.max(bad) > 10 * t_bad  # a raw maximum would have put the threshold at 80


def test_mostly_zero_scores_fit_the_nonzero_tail_or_keep_the_default():
    assert fit_threshold(np.zeros(50), 0.02) is None
    few = np.r_[np.zeros(40), np.full(MIN_NONZERO - 1, 0.3)]
    assert fit_threshold(few, 0.02) is None
    rng = np.random.default_rng(2)
    half = np.r_[np.zeros(200), 0.3 + rng.exponential(0.1, 200)]
    # P(S > t) = 0.5 P(S > t | S > 0): the conditional rate is 4%, the point 0.3 + 0.1 ln 25.
    assert fit_threshold(half, 0.02) == pytest.approx(0.3 + 0.1 * math.log(25), rel=0.08)


def test_calibrate_fits_per_view_and_lists_extreme_reals():
    rng = np.random.default_rng(3)
    n = 30
    scores = {d: 0.2 + rng.exponential(0.05, n) for d in CALIBRATED if d != "outline"}
    scores["blobs"][4] = 40.0  # one odd real image (a marker)
    reals = _reals(scores, "CC") + _reals({d: s * 1.5 for d, s in scores.items()}, "MLO", prefix="m")
    cal = calibrate(reals, source="site A")
    assert cal.id.startswith("cal-") and cal.source == "site A"
    cc, mlo = cal.for_view("CC"), cal.for_view("MLO")
    assert cc.calibrated and mlo.calibrated and cc.n_images == n
    assert mlo.thresholds["checkerboard"] > cc.thresholds["checkerboard"]
    assert cc.thresholds["blobs"] < 2.0
    assert {"id": "r4", "view": "CC", "detector": "blobs"}.items() <= next(
        f for f in cal.data_quality if f["id"] == "r4").items()
    assert cal.for_view("unknown") is cal.views["all"]


def test_too_few_images_of_a_view_fall_back_to_defaults_with_one_warning():
    rng = np.random.default_rng(4)
    cc = _reals({d: 0.2 + rng.exponential(0.05, 25) for d in CALIBRATED}, "CC")
    mlo = _reals({d: 0.2 + rng.exponential(0.05, 5) for d in CALIBRATED}, "MLO", prefix="m")
    with pytest.warns(CalibrationWarning, match=r"too few real images .*\(MLO 5; need 20") as rec:
        cal = calibrate(cc + mlo)
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert cal.for_view("CC").calibrated and not cal.for_view("MLO").calibrated
    assert cal.for_view("MLO").thresholds == {d: 1.0 for d in CALIBRATED}
    with pytest.warns(CalibrationWarning):
        tiny = calibrate(mlo)
    assert tiny.id == "defaults" and tiny.warnings


def test_thresholds_stay_within_the_clamps_and_the_detector_maximum():
    rng = np.random.default_rng(5)
    high = _reals({d: 3.0 + rng.exponential(1.0, 30) for d in CALIBRATED}, "CC")
    cal = calibrate(high)
    th = cal.for_view("CC")
    assert th.thresholds["checkerboard"] == 4.0 and "checkerboard" in th.clamped


def test_one_hole_flags_the_boundary_under_the_loosest_calibration(make_breast):
    from mammoeval.qa.anatomy import compute_anatomy
    from mammoeval.qa.calibration import MAX_FACTOR
    from mammoeval.qa.detectors.boundary import detect_boundary

    img, _ = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    img[(yy - 160) ** 2 + (xx - 60) ** 2 <= 12**2] = 0.0
    assert detect_boundary(compute_anatomy(img), threshold=MAX_FACTOR).flag


def test_json_round_trip_and_bad_files(tmp_path):
    from mammoeval.core.errors import BadInputError

    rng = np.random.default_rng(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        cal = calibrate(_reals({d: 0.2 + rng.exponential(0.05, 24) for d in CALIBRATED}, "MLO"))
    path = tmp_path / "calib.json"
    write_calibration(cal, path)
    back = read_calibration(path)
    assert back == cal
    assert from_json(json.loads(path.read_text())).id == cal.id
    (tmp_path / "bad.json").write_text('{"version": 99}')
    with pytest.raises(BadInputError, match="bad.json"):
        read_calibration(tmp_path / "bad.json")
    with pytest.raises(BadInputError, match="missing.json"):
        read_calibration(tmp_path / "missing.json")


def test_rows_record_the_calibration_and_are_rejudged_by_name(phantoms):
    from mammoeval.qa import check_image

    view, img, _ = phantoms[0]
    row, _ = check_image(img, view=view, image_id="p")
    assert row.calibration == "defaults" and set(row.scores) == set(DETECTORS)
    strict = shipped_defaults()
    strict_view = strict.for_view(view)
    strict_view.thresholds.update({d: 1e-4 for d in CALIBRATED})
    low = Calibration("cal-test", "test", 0.02, 1280, (320, 320, 320), {v: strict_view for v in strict.views})
    judged = row.judged(low)
    assert judged.calibration == "cal-test" and judged.any_artifact
    assert judged.scores == pytest.approx({**row.scores, "outline": judged.scores["outline"]})
    assert judged.to_row()["calibration"] == "cal-test"
    assert judged.judged(shipped_defaults()).flags == row.flags


def test_scan_calibration_is_cached_by_content_and_judges_both_sets(phantoms):
    import torch

    from mammoeval.data.imageset import TensorImageSet
    from mammoeval.qa import compare_scans, scan_image_set

    imgs = np.stack([img for _, img, _ in phantoms])[:, None]
    views = torch.tensor([0 if v == "CC" else 1 for v, _, _ in phantoms])
    real = scan_image_set(TensorImageSet(torch.from_numpy(imgs), views, name="r"), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        cal = real.fit_calibration(min_images=3)
        assert real.fit_calibration(min_images=3) is cal
        assert cal.for_view("CC").calibrated and cal.for_view("CC").n_images == 3
        out = compare_scans(real, real, calibration=cal)
    assert out["calibration"]["id"] == cal.id
    assert out["background_not_black"] == {"real": 0.0, "fake": 0.0}
    judged = real.judged(cal)
    assert judged.summary()["calibration"]["id"] == cal.id
    assert all(r.calibration == cal.id for r in judged.rows)
    other = real.judged(cal)
    other.rows[0] = judged.rows[0].__class__(**{**judged.rows[0].__dict__, "scores": {**judged.rows[0].scores,
                                                                                       "blobs": 9.0}})
    assert other.content_hash() != real.content_hash()


def test_default_calibration_uses_min_images():
    assert MIN_IMAGES == 20


def test_cli_calibrate_then_judge(tmp_path, phantoms):
    from PIL import Image
    from typer.testing import CliRunner

    from mammoeval.cli import app

    folder = tmp_path / "real"
    folder.mkdir()
    for k, (view, img, _) in enumerate(phantoms[:4]):
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"p{k}_{view}.png")
    runner = CliRunner()
    res = runner.invoke(app, ["qa", "calibrate", str(folder), "--out", str(tmp_path / "calib.json"), "--no-progress"])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "shipped default thresholds" in warned[0] and "Traceback" not in res.output
    cal = read_calibration(tmp_path / "calib.json")
    assert cal.id == "defaults" and cal.warnings
    res = runner.invoke(app, ["qa", str(folder), "--calibration", str(tmp_path / "calib.json"),
                              "--out", str(tmp_path / "qa"), "--no-progress"])
    assert res.exit_code == 0, res.output
    from mammoeval.qa.scan import read_qa_csv

    cols = read_qa_csv(tmp_path / "qa" / "qa.csv")[0]
    assert cols["calibration"] == "defaults" and "shipped default thresholds" in cols["calibration_note"]
    (tmp_path / "junk.json").write_text("not json")
    res = runner.invoke(app, ["qa", str(folder), "--calibration", str(tmp_path / "junk.json"), "--no-progress"])
    assert res.exit_code == 2 and "junk.json" in res.stderr and "Traceback" not in res.stderr + res.output
