"""No DICOM patient tag reaches the prepared dataset, the run files or the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mammoeval.report.gather import gather_run
from mammoeval.report.html import render_report
from tests.report.conftest import SMALL, PhantomGenerator, make_run

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-4711-XQZ"


def _write_dicom(path: Path, *, view: str, seed: int) -> None:
    """Write a small MG DICOM (breast on the left, 12-bit) carrying patient tags."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:160, 0:128]
    breast = ((xx / 100.0) ** 2 + ((yy - 80) / 70.0) ** 2) < 1.0
    pixels = (breast * (1500 + 800 * rng.random((160, 128)))).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.Modality = "MG"
    ds.ViewPosition = view
    ds.ImageLaterality = "L"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_patient_tags_reach_no_file(tmp_path: Path) -> None:
    prepare = pytest.importorskip("mammoeval.data.prepare")
    src = tmp_path / "src"
    src.mkdir()
    for i, view in enumerate(("CC", "MLO", "CC", "MLO")):
        _write_dicom(src / f"img{i:03d}.dcm", view=view, seed=i)
    data_dir = tmp_path / "prepared"
    prepare.prepare_dataset(src, data_dir, size=(80, 64), workers=1, progress=False)
    run = make_run(tmp_path / "run", data_dir)
    data = gather_run(run, options=SMALL, load_generator=lambda p: PhantomGenerator(), progress=False)
    assert data.views and data.views[0].reals  # the DICOM images are in the report
    render_report(data, tmp_path / "run" / "report")

    checked = 0
    for folder in (data_dir, run):
        for f in folder.rglob("*"):
            if f.is_file():
                blob = f.read_bytes()
                checked += 1
                for secret in (PATIENT_NAME, PATIENT_ID, "Doe", "Jane"):
                    assert secret.encode() not in blob, f"{secret!r} leaked into {f}"
    assert checked > 20
