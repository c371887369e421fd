"""Readers: synthetic DICOMs (windowing, VOI LUT, MONOCHROME1, tags, compressed syntaxes) and rasters."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mammoeval.core.errors import BadInputError
from mammoeval.data import preprocess as pp
from mammoeval.data.readers import HeaderFacts, read_header, read_image

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import (  # noqa: E402
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

MAMMO_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"


def ramp(height: int = 48, width: int = 40, top: int = 4095) -> np.ndarray:
    """Return a uint16 horizontal ramp 0..top (every column a different value)."""
    return np.tile(np.linspace(0, top, width).round().astype(np.uint16), (height, 1))


def make_dicom(path: Path, arr: np.ndarray, *, photometric: str = "MONOCHROME2", bits: int = 12,
               modality: str = "MG", compress: str | None = None, **tags: Any) -> Path:
    """Write a single-frame grey DICOM holding `arr` with the given tags (and patient identifiers)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MAMMO_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MAMMO_FOR_PRESENTATION
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-123"
    ds.Modality = modality
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16 if arr.dtype == np.uint16 else 8
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    for k, v in tags.items():
        setattr(ds, k, v)
    if compress is not None:
        ds.compress(compress, arr)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_window_center_width_is_applied_and_patient_tags_stay_inside(tmp_path: Path) -> None:
    arr = ramp()
    f = make_dicom(tmp_path / "w.dcm", arr, WindowCenter=[1000, 3000], WindowWidth=[1001, 500],
                   ViewPosition="CC", ImageLaterality="R")
    img = read_image(f)
    expected = pp.apply_window(arr, 1000, 1001)  # the first window of a multi-valued pair
    np.testing.assert_allclose(img.pixels, expected, atol=1e-6)
    assert img.facts.window == "window 1000/1001 LINEAR"
    assert (img.facts.view, img.facts.laterality, img.facts.modality) == ("CC", "R", "MG")
    assert (img.facts.photometric, img.facts.bits_stored, img.facts.implant) == ("MONOCHROME2", 12, False)
    names = {f.name for f in dataclasses.fields(HeaderFacts)}
    assert not names & {"PatientName", "PatientID", "patient", "uid", "date"}
    assert "Doe" not in repr(img.facts) and "SECRET" not in repr(img.facts)


def test_modality_lut_comes_before_the_window(tmp_path: Path) -> None:
    arr = ramp()
    f = make_dicom(tmp_path / "r.dcm", arr, RescaleSlope=2, RescaleIntercept=-100, RescaleType="US",
                   WindowCenter=4000, WindowWidth=8001)
    expected = pp.apply_window(arr.astype(np.float64) * 2 - 100, 4000, 8001)
    np.testing.assert_allclose(read_image(f).pixels, expected, atol=1e-6)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    arr = ramp()
    f = make_dicom(tmp_path / "m1.dcm", arr, photometric="MONOCHROME1", WindowCenter=2047.5, WindowWidth=4096)
    px = read_image(f).pixels
    assert px[0, 0] == pytest.approx(1.0, abs=1e-3)  # raw minimum shows white
    assert px[0, -1] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(px, 1 - pp.apply_window(arr, 2047.5, 4096), atol=1e-6)


def test_voi_lut_sequence_wins_over_the_window(tmp_path: Path) -> None:
    arr = np.array([[0, 99, 100, 200, 355, 4000]] * 16, dtype=np.uint16)
    arr = np.repeat(arr, 3, axis=1)
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 100, 8])  # 256 entries, first mapped value 100, 8 bits
    item.add_new(0x00283006, "US", list(range(255, -1, -1)))  # a reversed LUT
    f = make_dicom(tmp_path / "voi.dcm", arr, VOILUTSequence=[item], WindowCenter=50, WindowWidth=10)
    img = read_image(f)
    expected = np.repeat(np.array([255, 255, 255, 155, 0, 0]) / 255.0, 3)
    np.testing.assert_allclose(img.pixels[0], expected, atol=1e-6)
    assert img.facts.window == "VOI LUT"


def test_no_window_falls_back_to_breast_percentiles(tmp_path: Path) -> None:
    arr = np.zeros((48, 40), dtype=np.uint16)
    arr[:, :20] = np.linspace(1000, 3000, 20).round().astype(np.uint16)  # tissue; background 0
    img = read_image(make_dicom(tmp_path / "nowin.dcm", arr))
    assert img.facts.window.startswith("percentile 0.5-99.5")
    assert img.pixels[:, 20:].max() == 0.0  # background stays black
    assert img.pixels[:, 0].max() < 0.05 and img.pixels[:, 19].min() > 0.95  # tissue spans the range


def test_view_code_sequence_laterality_and_implant(tmp_path: Path) -> None:
    code = Dataset()
    code.CodeValue = "R-10226"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "medio-lateral oblique"
    f = make_dicom(tmp_path / "v.dcm", ramp(), ViewCodeSequence=[code], Laterality="L",
                   BreastImplantPresent="YES", WindowCenter=2048, WindowWidth=4096)
    facts = read_header(f)
    assert (facts.view, facts.laterality, facts.implant) == ("MLO", "L", True)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_lossless_compressed_syntaxes_decode_exactly(tmp_path: Path, syntax: Any) -> None:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 4096, size=(48, 40), dtype=np.uint16)
    plain = read_image(make_dicom(tmp_path / "plain.dcm", arr, WindowCenter=2047.5, WindowWidth=4096))
    packed = make_dicom(tmp_path / "packed.dcm", arr, WindowCenter=2047.5, WindowWidth=4096, compress=syntax)
    assert pydicom.dcmread(packed).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(read_image(packed).pixels, plain.pixels)


def test_jpeg_baseline_dicom_decodes(tmp_path: Path) -> None:
    import io

    from pydicom.encaps import encapsulate

    grey = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, format="JPEG", quality=95)
    f = make_dicom(tmp_path / "jpeg.dcm", grey, bits=8, WindowCenter=127.5, WindowWidth=256)
    ds = pydicom.dcmread(f)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.save_as(f, enforce_file_format=True)
    px = read_image(f).pixels
    np.testing.assert_allclose(px, pp.apply_window(grey, 127.5, 256), atol=4 / 255)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corrupt_truncated_and_empty_dicoms_raise_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 50)
    with pytest.raises(BadInputError, match=r"junk\.dcm: "):
        read_image(junk)
    whole = make_dicom(tmp_path / "whole.dcm", ramp(64, 64), WindowCenter=2048, WindowWidth=4096)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size - 3000])
    with pytest.raises(BadInputError, match=r"cut\.dcm: ") as e:
        read_image(cut)
    assert "\n" not in str(e.value)
    empty = make_dicom(tmp_path / "empty.dcm", ramp())
    ds = pydicom.dcmread(empty)
    del ds.PixelData
    ds.save_as(empty, enforce_file_format=True)
    with pytest.raises(BadInputError, match=r"empty\.dcm: DICOM has no pixel data"):
        read_image(empty)


def test_multi_frame_dicom_is_refused(tmp_path: Path) -> None:
    arr = ramp()
    f = make_dicom(tmp_path / "mf.dcm", arr, NumberOfFrames=2)
    ds = pydicom.dcmread(f)
    ds.PixelData = np.stack([arr, arr]).tobytes()
    ds.save_as(f, enforce_file_format=True)
    with pytest.raises(BadInputError, match=r"mf\.dcm: multi-frame"):
        read_image(f)


def test_16_bit_png_holding_12_bit_values_is_divided_by_4095(tmp_path: Path) -> None:
    arr = ramp(top=4095)
    f = tmp_path / "x.png"
    Image.fromarray(arr).save(f)
    img = read_image(f)
    np.testing.assert_allclose(img.pixels, arr / 4095.0, atol=1e-7)
    assert (img.facts.bits_stored, img.facts.window) == (12, "divide by 4095")


def test_rgb_jpeg_of_grey_is_collapsed(tmp_path: Path) -> None:
    grey = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    f = tmp_path / "g.jpg"
    Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB").save(f, quality=95)
    img = read_image(f)
    assert img.pixels.shape == (48, 64) and img.facts.photometric == "RGB->grey"
    np.testing.assert_allclose(img.pixels, grey / 255.0, atol=4 / 255)


@pytest.mark.parametrize(("suffix", "dtype", "top"), [(".pgm", np.uint8, 255), (".tif", np.uint16, 65535)])
def test_pgm_and_tiff(tmp_path: Path, suffix: str, dtype: Any, top: int) -> None:
    arr = np.tile(np.linspace(0, top, 40).round().astype(dtype), (48, 1))
    f = tmp_path / f"a{suffix}"
    Image.fromarray(arr).save(f)
    np.testing.assert_allclose(read_image(f).pixels, arr / float(top), atol=1e-6)


def test_bad_rasters_raise_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (64, 1))).save(good)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:60])
    with pytest.raises(BadInputError, match=r"trunc\.png: "):
        read_image(trunc)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BadInputError, match=r"notes\.txt: unsupported format"):
        read_image(text)
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a jpeg")
    with pytest.raises(BadInputError, match=r"fake\.jpg: not a readable image"):
        read_image(fake)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tiny)
    with pytest.raises(BadInputError, match=r"tiny\.png: image 8x8 is too small"):
        read_image(tiny)
