"""`prepare_dataset` and `mammoeval data prepare`: records, exclusions, skips, workers, resume, CLI."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import read_jsonl
from mammoeval.data.dataset import PreparedDataset
from mammoeval.data.labels import infer_chest_wall
from mammoeval.data.prepare import JOURNAL_DIR, JOURNAL_FILE, make_image_id, prepare_dataset
from mammoeval.data.prepared import read_dataset_info, read_manifest, read_png

SIZE = (80, 64)


def breast(height: int = 200, width: int = 150, *, chest_wall: str = "left") -> np.ndarray:
    """Return a half-ellipse breast phantom as uint8 (background 0)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((yy - height / 2) / (0.45 * height)) ** 2 + (xx / (0.75 * width)) ** 2
    img = np.where(r2 < 1, 60 + 180 * (1 - r2), 0).round().astype(np.uint8)
    return img if chest_wall == "left" else img[:, ::-1].copy()


def write_dicom(path: Path, arr: np.ndarray, **tags: Any) -> None:
    """Write an 8-bit grey DICOM with the given tags."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.WindowCenter, ds.WindowWidth = 127.5, 256
    ds.PixelData = arr.tobytes()
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    """A small mixed source: 3 usable PNGs, 1 usable DICOM, and 5 files that must be skipped."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(breast()).save(src / "L_CC.png")
    Image.fromarray(breast(chest_wall="right")).save(src / "R_MLO.png")
    Image.fromarray(breast(100, 200)).save(src / "sub" / "case_LCC.png")
    write_dicom(src / "sub" / "ml.dcm", breast(), Modality="MG", ViewPosition="ML", ImageLaterality="L")
    write_dicom(src / "implant.dcm", breast(), Modality="MG", ViewPosition="CC", BreastImplantPresent="YES")
    write_dicom(src / "chest.dcm", breast(), Modality="RG", ViewPosition="CC", ImageLaterality="R")
    (src / "corrupt.png").write_bytes((src / "L_CC.png").read_bytes()[:80])
    (src / "notes.txt").write_text("not an image")
    Image.fromarray(breast(40, 30)).save(src / "small.png")
    return src


def _skipped(out: Path) -> dict[str, str]:
    with open(out / "skipped.csv", newline="") as f:
        return {row["file"]: row["reason"] for row in csv.DictReader(f)}


def test_prepare_writes_records_canonical_images_and_skip_reasons(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = prepare_dataset(source, out, size=SIZE, workers=1, progress=False)
    assert (summary.n_sources, summary.n_prepared, summary.n_processed) == (9, 4, 8)
    recs = {r.source: r for r in read_manifest(out)}
    assert set(recs) == {"L_CC.png", "R_MLO.png", "sub/case_LCC.png", "sub/ml.dcm"}
    lcc, rmlo, wide = recs["L_CC.png"], recs["R_MLO.png"], recs["sub/case_LCC.png"]
    assert (lcc.view, lcc.laterality, lcc.flipped, lcc.orig_height, lcc.orig_width) == ("CC", "L", False, 200, 150)
    assert lcc.scale == pytest.approx(0.4, abs=1e-5) and (lcc.pad_top, lcc.pad_right) == (0, 4)
    assert (rmlo.view, rmlo.laterality, rmlo.flipped) == ("MLO", "R", True)
    assert (wide.pad_top, wide.pad_bottom, wide.pad_right, wide.scale) == (24, 24, 0, pytest.approx(0.32))
    assert (recs["sub/ml.dcm"].view, recs["sub/ml.dcm"].laterality) == ("ML", "L")
    assert lcc.id == make_image_id("L_CC.png")
    for r in recs.values():
        img = read_png(out / r.file)
        assert img.shape == SIZE and infer_chest_wall(img).side == "left"
    # The flipped right breast lands where the left one does.
    np.testing.assert_allclose(read_png(out / rmlo.file), read_png(out / lcc.file), atol=1 / 255)
    skipped = _skipped(out)
    assert set(skipped) == {"implant.dcm", "chest.dcm", "corrupt.png", "notes.txt", "small.png"}
    assert "implant" in skipped["implant.dcm"]
    assert "modality RG" in skipped["chest.dcm"] and "--allow-modality RG" in skipped["chest.dcm"]
    assert "unsupported format '.txt'" in skipped["notes.txt"]
    assert "smaller than the target" in skipped["small.png"]
    assert skipped["corrupt.png"] and "\n" not in skipped["corrupt.png"]
    info = read_dataset_info(out)
    assert info.n_images == 4 and info.counts["view:CC"] == 2 and info.content_hash == summary.info.content_hash
    ds = PreparedDataset(out, reduction=2)  # CC and MLO only
    assert len(ds) == 3 and ds[0][0].shape == (1, 40, 32)


def test_allowed_modality_views_filter_upsample_and_16_bits(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_dataset(source, out, size=SIZE, workers=1, progress=False, allowed_modalities=("MG", "RG"),
                    views=("CC", "MLO"), allow_upsample=True, bits=16)
    recs = {r.source: r for r in read_manifest(out)}
    assert set(recs) == {"L_CC.png", "R_MLO.png", "sub/case_LCC.png", "chest.dcm"}  # small.png has no view
    assert "not in the kept views CC,MLO" in _skipped(out)["sub/ml.dcm"]
    from PIL import Image as PILImage

    with PILImage.open(out / recs["L_CC.png"].file) as im:
        assert im.mode.startswith("I")  # 16-bit PNG


def test_label_manifest_overrides_tags_and_names(source: Path, tmp_path: Path) -> None:
    man = tmp_path / "labels.csv"
    man.write_text("path,view,laterality,split\nL_CC.png,MLO,R,test\nmissing.png,CC,L,\n")
    out = tmp_path / "out"
    prepare_dataset(source, out, size=SIZE, workers=1, progress=False, manifest=man)
    rec = next(r for r in read_manifest(out) if r.source == "L_CC.png")
    assert (rec.view, rec.laterality, rec.split, rec.flipped) == ("MLO", "R", "test", False)
    assert "not found" in _skipped(out)["missing.png"]


def test_output_does_not_depend_on_the_number_of_workers(source: Path, tmp_path: Path) -> None:
    a = prepare_dataset(source, tmp_path / "a", size=SIZE, workers=1, progress=False)
    b = prepare_dataset(source, tmp_path / "b", size=SIZE, workers=2, progress=False)
    assert a.info.content_hash == b.info.content_hash
    assert (tmp_path / "a" / "manifest.csv").read_text() == (tmp_path / "b" / "manifest.csv").read_text()
    assert (tmp_path / "a" / "skipped.csv").read_text() == (tmp_path / "b" / "skipped.csv").read_text()


def test_resume_after_an_interruption_redoes_only_unfinished_files(source: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import mammoeval.data.prepare as prep

    real_read = prep.read_image
    calls = {"n": 0}

    def flaky(path: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C on the third decoded file
        return real_read(path)

    out = tmp_path / "out"
    monkeypatch.setattr(prep, "read_image", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(source, out, size=SIZE, workers=1, progress=False)
    monkeypatch.setattr(prep, "read_image", real_read)
    assert not (out / "dataset.json").exists()
    done_before = len(read_jsonl(out / JOURNAL_DIR / JOURNAL_FILE))
    assert 0 < done_before < 8
    resumed = prepare_dataset(source, out, size=SIZE, workers=1, progress=False)
    assert (resumed.n_reused, resumed.n_processed) == (done_before, 8 - done_before)
    fresh = prepare_dataset(source, tmp_path / "fresh", size=SIZE, workers=1, progress=False)
    assert resumed.info.content_hash == fresh.info.content_hash
    again = prepare_dataset(source, out, size=SIZE, workers=1, progress=False)
    assert (again.n_processed, again.n_reused) == (0, 8)
    other = prepare_dataset(source, out, size=(40, 32), workers=1, progress=False)  # new options: redo all
    assert other.n_processed == 8 and read_dataset_info(out).size == (40, 32)


def test_source_without_usable_images_is_one_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "nothing"
    src.mkdir()
    (src / "readme.txt").write_text("x")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(BadInputError, match=r"nothing: no usable image among 2 files"):
        prepare_dataset(src, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert set(_skipped(tmp_path / "out")) == {"readme.txt", "broken.png"}


def test_cli_prepare_prints_a_summary_and_fails_in_one_line(source: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mammoeval.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["data", "prepare", str(source), "--out", str(tmp_path / "o"), "--size", "80x64",
                             "--workers", "1", "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert "4 images" in ok.output and "skipped 5" in ok.output
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(app, ["data", "prepare", str(empty), "--out", str(tmp_path / "o2"), "--no-progress"])
    assert bad.exit_code == 2
    assert "no usable image" in bad.output and "Traceback" not in bad.output
