"""Integration: prepare all of ../shared/data/real-dev (film scans, 16-bit PNG, RGB JPEG, JPEG 2000 DICOM).

Skips cleanly where that folder is absent. One prepare run (16-bit, 320x256, 2 workers) is shared by
the checks below.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mammoeval.data.labels import infer_chest_wall
from mammoeval.data.prepare import PrepareSummary, prepare_dataset
from mammoeval.data.prepared import ManifestRecord, read_manifest, read_png
from mammoeval.data.readers import read_image

REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"

pytestmark = [
    pytest.mark.realdev,
    pytest.mark.slow,
    pytest.mark.skipif(not (REAL_DEV / "labels.csv").is_file(), reason="../shared/data/real-dev is absent"),
]


def _labels() -> dict[str, dict[str, str]]:
    with open(REAL_DEV / "labels.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrepareSummary, dict[str, ManifestRecord]]:
    tmp = tmp_path_factory.mktemp("realdev")
    man = tmp / "labels_manifest.csv"
    with open(man, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "view", "laterality"])
        for name, row in _labels().items():
            # mini-MIAS laterality is uncertain (README): leave it to the chest-wall inference.
            w.writerow([name, row["view"], "" if name.startswith("mias_") else row["laterality"]])
    summary = prepare_dataset(REAL_DEV, tmp / "out", size=(320, 256), bits=16, manifest=man, workers=2,
                              allowed_modalities=("MG", "RG"), progress=False)
    return summary, {r.source: r for r in read_manifest(summary.out)}


def test_every_file_is_prepared_or_skipped_with_a_reason(prepared: tuple[PrepareSummary, dict]) -> None:
    summary, recs = prepared
    images = {p.name for p in REAL_DEV.iterdir() if p.suffix != ".csv"}
    assert set(recs) == images and len(images) == 29
    assert dict(summary.skipped) == {"labels.csv": "unsupported format '.csv'"}


def test_views_and_lateralities_come_from_the_manifest(prepared: tuple[PrepareSummary, dict]) -> None:
    _, recs = prepared
    for name, row in _labels().items():
        assert recs[name].view == row["view"], name
        if not name.startswith("mias_"):
            assert recs[name].laterality == row["laterality"], name


def test_chest_wall_is_on_the_left_for_every_prepared_image(prepared: tuple[PrepareSummary, dict]) -> None:
    summary, recs = prepared
    for name, r in recs.items():
        img = read_png(summary.out / r.file)
        assert img.shape == (320, 256)
        assert infer_chest_wall(img).side == "left", name
    # Stored orientations differ: GMIC right breasts face the other way; NYU density R views are pre-mirrored.
    assert recs["nyu_gmic_0_R-CC.png"].flipped and not recs["nyu_gmic_0_L-CC.png"].flipped
    assert not recs["nyu_density_R-CC.png"].flipped


def test_rgb_jpegs_are_collapsed_to_grey() -> None:
    img = read_image(REAL_DEV / "cddcesm_IM0041.jpg")
    assert img.pixels.ndim == 2 and img.facts.photometric == "RGB->grey"


def test_16_bit_png_keeps_its_grey_levels(prepared: tuple[PrepareSummary, dict]) -> None:
    summary, recs = prepared
    src = read_image(REAL_DEV / "nyu_gmic_0_L-CC.png")
    assert src.facts.bits_stored == 12 and src.pixels.max() == 1.0  # 4095 / 4095, not 4095 / 65535
    out = read_png(summary.out / recs["nyu_gmic_0_L-CC.png"].file)
    assert np.unique(out).size > 1000  # far beyond 8-bit
    assert out.max() > 0.9 and float((out >= 1.0).mean()) < 0.001  # bright, not clipped


def test_jpeg2000_dicom_is_decoded(prepared: tuple[PrepareSummary, dict]) -> None:
    _, recs = prepared
    r = recs["nema_MG1_J2KI.dcm"]
    assert (r.orig_height, r.orig_width, r.view, r.laterality) == (4664, 3064, "MLO", "L")


def test_rg_modality_is_refused_by_default(tmp_path: Path) -> None:
    from mammoeval.data.prepare import Job, PrepareOptions, prepare_one

    job = Job(source="nema_MG1_J2KI.dcm", path=str(REAL_DEV / "nema_MG1_J2KI.dcm"), image_id="nema",
              labels=None, fingerprint="x")
    outcome = prepare_one(job, PrepareOptions(size=(320, 256)), str(tmp_path))
    assert outcome.record is None and "modality RG" in outcome.reason
