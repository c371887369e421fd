from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from mammoeval.data.imageset import TensorImageSet
from mammoeval.qa import DETECTORS, QAScan, check_image, compare_scans, scan_image_set, write_qa
from mammoeval.qa.ranking import pick_best_worst
from mammoeval.qa.scan import QA_CSV, QA_JSON, read_qa_csv


@pytest.fixture(scope="module")
def image_set(phantoms):
    imgs = [img for _, img, _ in phantoms[:4]]
    imgs[3] = np.full_like(imgs[3], np.nan)  # one broken image
    views = torch.tensor([0 if v == "CC" else 1 for v, _, _ in phantoms[:4]])
    return TensorImageSet(torch.from_numpy(np.stack(imgs)[:, None]), views, name="ph", ids=["a", "b", "c", "d"])


def test_scan_streams_and_keeps_worst_details(image_set):
    scan = scan_image_set(image_set, progress=False, keep_details=1, batch_size=3)
    assert [r.id for r in scan.rows] == ["a", "b", "c", "d"]
    assert list(scan.details) == ["d"]  # the broken one has the lowest quality
    assert scan.rows[3].flag("broken") and not scan.rows[0].any_artifact
    best, worst = pick_best_worst(scan.rows, n=1)
    assert worst[0].id == "d" and best[0].id != "d"


def test_summary_rates_and_views(image_set):
    s = scan_image_set(image_set, progress=False).summary()
    assert s["n_images"] == 4 and s["detectors"] == list(DETECTORS)
    assert s["views"]["all"]["artifact_rate"]["broken"] == pytest.approx(0.25)
    assert s["views"]["all"]["artifact_rate"]["any"] == pytest.approx(0.25)
    assert s["views"]["CC"]["n"] + s["views"]["MLO"]["n"] == 4
    assert s["views"]["unknown"]["n"] == 0 and s["views"]["unknown"]["artifact_rate"] is None


def test_write_qa_round_trip(image_set, tmp_path):
    scan = scan_image_set(image_set, progress=False)
    write_qa(scan, tmp_path)
    rows = read_qa_csv(tmp_path / QA_CSV)
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    for r, q in zip(rows, scan.rows, strict=True):
        want = q.to_row()
        assert set(r) == set(want)
        assert float(r["quality_score"]) == pytest.approx(want["quality_score"])
        assert r["flag_broken"] == str(want["flag_broken"])
    assert json.loads((tmp_path / QA_JSON).read_text()) == json.loads(json.dumps(scan.summary()))
    assert not list(tmp_path.glob(".*tmp"))


def test_read_qa_csv_bad_input(tmp_path):
    from mammoeval.core.errors import BadInputError

    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(BadInputError, match="x.csv"):
        read_qa_csv(bad)
    with pytest.raises(BadInputError, match="missing.csv"):
        read_qa_csv(tmp_path / "missing.csv")


def test_compare_scans_identical_is_zero_and_direction(phantoms):
    rows = [check_image(img, view=v, image_id=str(i))[0] for i, (v, img, _) in enumerate(phantoms)]
    real = QAScan(rows)
    same = compare_scans(real, QAScan(list(rows)))
    for key in ("count", "size_px", "contrast"):
        assert same["all"]["w1"][key] in (None, 0.0)
    broken = QAScan([check_image(np.zeros((64, 64), np.float32), view=v)[0] for v, _, _ in phantoms])
    diff = compare_scans(real, broken)
    assert diff["all"]["artifact_rate"]["broken"] == {"real": 0.0, "fake": 1.0}
    assert diff["CC"]["n_real"] == 3 and diff["CC"]["n_fake"] == 3


def test_check_image_is_pure_and_accepts_channel_dim(phantoms):
    _, img, _ = phantoms[0]
    a, _ = check_image(img[None], image_id="x")
    b, _ = check_image(img.copy(), image_id="x")
    assert a == b
    with pytest.raises(ValueError, match="grey image"):
        check_image(np.zeros((2, 8, 8)))


def test_cli_qa_on_folder(tmp_path, phantoms):
    from PIL import Image
    from typer.testing import CliRunner

    from mammoeval.cli import app

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (_, img, _) in enumerate(phantoms[:2]):
        Image.fromarray((img * 255).round().astype(np.uint8)).save(folder / f"g{i}.png")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["qa", str(folder), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    with open(out / QA_CSV, newline="") as f:
        assert sorted(r["id"] for r in csv.DictReader(f)) == ["g0", "g1"]
    assert json.loads((out / QA_JSON).read_text())["n_images"] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["qa", str(empty), "--out", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_scan_folder_checks_images_of_any_size_at_their_own_size(phantoms, tmp_path):
    """A plain folder of mammograms of several sizes (and a subfolder) is scanned image by image:
    the same rows as `check_image` on each decoded file, ids from the relative paths, views from the
    names; a corrupt file is a one-line error naming it; the `qa` command uses it for plain folders."""
    from PIL import Image
    from typer.testing import CliRunner

    from mammoeval.cli import app
    from mammoeval.core.errors import BadInputError
    from mammoeval.data.readers import read_image
    from mammoeval.qa import scan_folder

    (tmp_path / "in" / "sub").mkdir(parents=True)
    files = {"a_L_CC.png": phantoms[0][1], "sub/b_R_MLO.png": phantoms[1][1][::2, ::2][:150],
             "c.png": np.pad(phantoms[2][1], ((0, 40), (0, 0)))}
    for rel, img in files.items():
        Image.fromarray((np.clip(img, 0, 1) * 65535).astype(np.uint16)).save(tmp_path / "in" / rel)
    scan = scan_folder(tmp_path / "in", progress=False, keep_details=1)
    assert [r.id for r in scan.rows] == ["a_L_CC", "c", "sub/b_R_MLO"]
    assert [r.view for r in scan.rows] == ["CC", "unknown", "MLO"]
    for row, rel in zip(scan.rows, ["a_L_CC.png", "c.png", "sub/b_R_MLO.png"], strict=True):
        expected, _ = check_image(read_image(tmp_path / "in" / rel).pixels, view=row.view, image_id=row.id)
        assert row == expected
    assert len(scan.details) == 1
    result = CliRunner().invoke(app, ["qa", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(read_qa_csv(tmp_path / "out" / QA_CSV)) == 3
    (tmp_path / "in" / "d_L_CC.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(BadInputError, match="d_L_CC.png"):
        scan_folder(tmp_path / "in", progress=False)
