"""Export of generated images: seeds, files, manifest, DICOM marking, read-back by `data prepare`, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from typer.testing import CliRunner

from mammoeval.cli import app
from mammoeval.core.fsutil import write_json_atomic
from mammoeval.data.readers import read_image
from mammoeval.export.dicom import MG_FOR_PRESENTATION, PLACEHOLDER_PATIENT_NAME
from mammoeval.export.generate import ExportSettings, export_seeds, generate_export
from mammoeval_train.generate import load_generator


def _reference(run: Path, seeds: list[int], views: list[int]) -> np.ndarray:
    g = load_generator(run / "checkpoints" / "ckpt-0000000320.pt")
    return g.generate(seeds, torch.tensor(views)).numpy()[:, 0]


def test_png_export_matches_the_generator_and_the_scorer_seed_rule(tiny_run: Path, tmp_path: Path) -> None:
    res = generate_export(tiny_run, tmp_path / "out", ExportSettings(n_per_view=3, seed=5, bits=16), progress=False)
    assert [(r["view"], r["seed"]) for r in res.rows] == [("CC", 5), ("CC", 6), ("CC", 7),
                                                         ("MLO", 8), ("MLO", 9), ("MLO", 10)]
    ref = _reference(tiny_run, [5, 6, 7, 8, 9, 10], [0, 0, 0, 1, 1, 1])
    for k, r in enumerate(res.rows):
        assert r["file"] == f"{r['view']}_L_seed{r['seed']:06d}.png"
        img = read_image(tmp_path / "out" / r["file"]).pixels
        assert img.shape == (20, 16)
        np.testing.assert_allclose(img, ref[k], atol=0.5 / 65535 + 1e-6)
    with open(res.manifest_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [r["file"] for r in res.rows] and rows[0]["bits"] == "16"
    meta = json.loads(res.manifest_json.read_text())
    assert meta["checkpoint"] == "ckpt-0000000320.pt" and meta["chosen_by"] == "newest checkpoint"
    assert meta["synthetic"] is True and len(meta["checkpoint_sha256"]) == 64


def test_one_view_and_8_bit(tiny_run: Path, tmp_path: Path) -> None:
    s = ExportSettings(n_per_view=2, seed=0, views=("MLO",))
    assert export_seeds(s) == [("MLO", 0), ("MLO", 1)]
    res = generate_export(tiny_run, tmp_path, s, progress=False)
    from PIL import Image

    assert {r["view"] for r in res.rows} == {"MLO"}
    assert Image.open(tmp_path / res.rows[0]["file"]).mode == "L"


def test_dicom_is_mg_for_presentation_and_marked_synthetic(tiny_run: Path, tmp_path: Path) -> None:
    res = generate_export(tiny_run, tmp_path, ExportSettings(n_per_view=2, format="dicom", pixel_spacing_mm=0.3),
                          progress=False)
    ref = _reference(tiny_run, [0, 1, 2, 3], [0, 0, 1, 1])
    uids = set()
    for k, r in enumerate(res.rows):
        ds = pydicom.dcmread(tmp_path / r["file"])
        assert ds.file_meta.MediaStorageSOPClassUID == MG_FOR_PRESENTATION == ds.SOPClassUID
        assert ds.Modality == "MG" and ds.PresentationIntentType == "FOR PRESENTATION"
        assert ds.ViewPosition == r["view"] and ds.ImageLaterality == "L"
        assert ds.SyntheticData == "YES" and list(ds.ImageType) == ["DERIVED", "SECONDARY", "", "SYNTHETIC"]
        assert "synthetic" in ds.DerivationDescription.lower() and ds.ImageComments.startswith("SYNTHETIC")
        assert ds.SeriesDescription.startswith("SYNTHETIC") and ds.StudyDescription.startswith("SYNTHETIC")
        assert str(ds.PatientName) == PLACEHOLDER_PATIENT_NAME and ds.PatientID.startswith("SYNTH-")
        assert ds.PatientBirthDate == "" and ds.PatientSex == "" and ds.BurnedInAnnotation == "NO"
        assert ds.ViewCodeSequence[0].CodeValue == {"CC": "399162004", "MLO": "399368009"}[r["view"]]
        overlay = ds.overlay_array(0x6000)
        assert overlay.shape == (20, 16) or overlay.shape == (ds.Rows, ds.Columns)
        uids.add(ds.SOPInstanceUID)
        assert ds.BitsStored == 12 and [float(v) for v in ds.ImagerPixelSpacing] == [0.3, 0.3]
        np.testing.assert_allclose(ds.pixel_array / 4095.0, ref[k], atol=0.5 / 4095 + 1e-6)
        # the reader (windowing included) gives back the generator's pixels within quantisation
        np.testing.assert_allclose(read_image(tmp_path / r["file"]).pixels, ref[k], atol=1.5 / 4095)
    assert len(uids) == 4


def test_overlay_draws_the_label_without_touching_pixels() -> None:
    from mammoeval.export.dicom import overlay_text_bitmap

    bm = overlay_text_bitmap("SYNTHETIC", max_width=200)
    assert bm.dtype == np.uint8 and bm.max() == 1 and bm.shape[1] <= 200 and bm.shape[1] > 100


@pytest.mark.parametrize("fmt", ["png", "dicom"])
def test_generate_then_prepare_keeps_count_and_views(tiny_run: Path, tmp_path: Path, fmt: str) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["generate", str(tiny_run), "--n", "3", "--out", str(tmp_path / "exp"),
                              "--format", fmt, "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["data", "prepare", str(tmp_path / "exp"), "--out", str(tmp_path / "prep"),
                              "--size", "20x16", "--no-progress", "--workers", "1"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "prep" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert sorted(r["view"] for r in rows) == ["CC"] * 3 + ["MLO"] * 3
    assert {r["laterality"] for r in rows} == {"L"}


def test_best_json_and_explicit_checkpoint_choose_the_file(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.copy(run / "checkpoints" / "ckpt-0000000320.pt", run / "checkpoints" / "ckpt-0000000640.pt")
    write_json_atomic(run / "best.json", {"checkpoint": "ckpt-0000000320.pt"})
    res = generate_export(run, tmp_path / "a", ExportSettings(n_per_view=1), progress=False)
    assert res.checkpoint.name == "ckpt-0000000320.pt" and res.chosen_by == "best.json"
    res = generate_export(run, tmp_path / "b", ExportSettings(n_per_view=1, checkpoint="ckpt-0000000640.pt"),
                          progress=False)
    assert res.checkpoint.name == "ckpt-0000000640.pt" and res.chosen_by == "--checkpoint"


def _bad(res: object, name: str) -> None:
    out = res.output  # type: ignore[attr-defined]
    assert res.exit_code == 2, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and name in out and len(out.strip().splitlines()) == 1


def test_checkpoint_that_cannot_generate_is_one_line_exit_2(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "checkpoints" / "ckpt-0000000320.pt").write_bytes(b"not a checkpoint")
    runner = CliRunner()
    _bad(runner.invoke(app, ["generate", str(run), "--n", "1", "--out", str(tmp_path / "o")]), "ckpt-0000000320.pt")
    _bad(runner.invoke(app, ["generate", str(run), "--n", "1", "--out", str(tmp_path / "o"),
                             "--checkpoint", "ckpt-0000009999.pt"]), "ckpt-0000009999.pt")
    write_json_atomic(run / "best.json", {"checkpoint": "ckpt-0000000111.pt"})
    _bad(runner.invoke(app, ["generate", str(run), "--n", "1", "--out", str(tmp_path / "o")]), "best.json")
    _bad(runner.invoke(app, ["generate", str(tmp_path / "nothing"), "--n", "1", "--out", str(tmp_path / "o")]),
         "nothing")
    _bad(runner.invoke(app, ["generate", str(tiny_run), "--n", "1", "--out", str(tmp_path / "o"), "--view", "ML"]),
         "--view")


def test_checkpoint_whose_weights_do_not_fit_its_config_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    path = run / "checkpoints" / "ckpt-0000000320.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["latent_size"] = 2 * ckpt["config"]["latent_size"]
    torch.save(ckpt, path)
    _bad(CliRunner().invoke(app, ["generate", str(run), "--n", "1", "--out", str(tmp_path / "o")]),
         "ckpt-0000000320.pt")


def test_dicom_export_feeds_a_reader_study_with_views_from_the_tags(tiny_run: Path, tmp_path: Path) -> None:
    from mammoeval.study.make import make_study

    generate_export(tiny_run, tmp_path / "a", ExportSettings(n_per_view=2, format="dicom", seed=0), progress=False)
    generate_export(tiny_run, tmp_path / "b", ExportSettings(n_per_view=2, format="dicom", seed=50), progress=False)
    for p in (tmp_path / "a").glob("*.dcm"):  # names without the view: it must come from ViewPosition
        p.rename(p.with_name(f"img_{p.name.split('_seed')[1]}"))
    res = make_study(tmp_path / "a", tmp_path / "b", n=4, out=tmp_path / "study", seed=0)
    with open(res.key, newline="") as f:
        key = list(csv.DictReader(f))
    assert sorted((r["truth"], r["view"]) for r in key) == sorted([("real", "CC")] * 2 + [("real", "MLO")] * 2 +
                                                                 [("generated", "CC")] * 2 + [("generated", "MLO")] * 2)
