"""Curation by QA: accepted and rejected images go to their folders with every image's reasons, through one decision function."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.data.prepared import encode_png, read_manifest
from mammoeval.export.curate import curate, qa_decision
from mammoeval.qa import scan_folder


def _folder(tmp_path: Path, phantoms: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for r in read_manifest(phantoms)[:6]:
        shutil.copy(phantoms / r.file, src / f"{r.id}_{r.laterality}_{r.view}.png")
    (src / "blank_L_CC.png").write_bytes(encode_png(np.zeros((80, 64), np.float32), bits=8))
    return src


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_qa_accept_and_reject_out_split_the_folder_by_the_qa_flags(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    src = _folder(tmp_path, phantom_dir_80x64)
    res = CliRunner().invoke(app, ["qa", str(src), "--out", str(tmp_path / "qa"), "--accept-out", str(tmp_path / "ok"),
                                   "--reject-out", str(tmp_path / "bad"), "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = _csv(tmp_path / "ok" / "curation.csv")
    qa_rows = {r["id"]: r for r in _csv(tmp_path / "qa" / "qa.csv")}
    assert len(rows) == 7 == len(qa_rows)
    for r in rows:  # the decision is exactly "no detector flagged it", with the scan's reasons
        flagged = qa_rows[r["id"]]["any_artifact"] == "True"
        assert r["decision"] == ("rejected" if flagged else "accepted")
        assert (r["reasons"] != "") == flagged
        dest = tmp_path / ("bad" if flagged else "ok") / f"{r['id']}.png"
        assert dest.is_file() and dest.read_bytes() == (src / f"{r['id']}.png").read_bytes()
    blank = next(r for r in rows if r["id"] == "blank_L_CC")
    assert blank["decision"] == "rejected" and "broken" in blank["reasons"]
    labels = _csv(tmp_path / "ok" / "labels.csv")
    assert {x["path"] for x in labels} == {f"{r['id']}.png" for r in rows if r["decision"] == "accepted"}
    assert all(x["view"] in ("CC", "MLO") and x["laterality"] in ("L", "R") for x in labels)


def test_prepared_dataset_curation_keeps_labels_and_can_link(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    from mammoeval.data.open import open_image_set
    from mammoeval.qa import scan_image_set

    scan = scan_image_set(open_image_set(phantom_dir_80x64), progress=False)
    res = curate(phantom_dir_80x64, scan.rows, accept_out=tmp_path / "ok", link=True)
    assert res.n_accepted + res.n_rejected == 16 and res.rejected_dir is None
    assert res.n_accepted == sum(qa_decision(r)[0] == "accepted" for r in scan.rows)
    copied = sorted(p.name for p in (tmp_path / "ok").glob("*.png"))
    assert len(copied) == res.n_accepted
    by_id = {r.id: r for r in read_manifest(phantom_dir_80x64)}
    for name in copied:
        image_id, lat, view = name[:-4].rsplit("_", 2)
        assert (by_id[image_id].laterality, by_id[image_id].view) == (lat, view)


def test_destination_inside_the_source_is_refused(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    src = _folder(tmp_path, phantom_dir_80x64)
    res = CliRunner().invoke(app, ["qa", str(src), "--out", str(tmp_path / "qa"), "--accept-out", str(src / "ok"),
                                   "--no-progress"])
    assert res.exit_code == 2 and "Traceback" not in res.output and "ok" in res.output


def test_generate_accept_out_curates_the_export(tiny_run: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["generate", str(tiny_run), "--n", "2", "--out", str(tmp_path / "exp"),
                                   "--accept-out", str(tmp_path / "ok"), "--reject-out", str(tmp_path / "bad"),
                                   "--link", "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = _csv(tmp_path / "ok" / "curation.csv")
    assert len(rows) == 4
    placed = [tmp_path / ("ok" if r["decision"] == "accepted" else "bad") / f"{r['id']}.png" for r in rows]
    assert all(p.stat().st_ino == (tmp_path / "exp" / p.name).stat().st_ino for p in placed)  # hard links
    scan = {r.id: r for r in scan_folder(tmp_path / "exp", progress=False).rows}
    for r in rows:
        assert r["decision"] == qa_decision(scan[r["id"]])[0]
        assert (tmp_path / ("ok" if r["decision"] == "accepted" else "bad") / f"{r['id']}.png").is_file()


def test_qa_json_prints_the_summary_it_writes(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    import json

    res = CliRunner().invoke(app, ["qa", str(phantom_dir_80x64), "--out", str(tmp_path / "qa"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads((tmp_path / "qa" / "qa.json").read_text())


def test_curation_follows_calibrated_flags(tmp_path: Path, phantom_dir_80x64: Path) -> None:
    src = _folder(tmp_path, phantom_dir_80x64)
    runner = CliRunner()
    res = runner.invoke(app, ["qa", "calibrate", str(phantom_dir_80x64), "--out", str(tmp_path / "calib.json"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["qa", str(src), "--calibration", str(tmp_path / "calib.json"), "--out",
                              str(tmp_path / "qa"), "--accept-out", str(tmp_path / "ok"), "--no-progress"])
    assert res.exit_code == 0, res.output
    flagged = {r["id"]: r["any_artifact"] == "True" for r in _csv(tmp_path / "qa" / "qa.csv")}
    decisions = {r["id"]: r["decision"] for r in _csv(tmp_path / "ok" / "curation.csv")}
    assert decisions == {i: "rejected" if f else "accepted" for i, f in flagged.items()}
    assert decisions["blank_L_CC"] == "rejected"
