"""Labels: tag normalisation, file-name conventions, the label manifest, chest-wall side inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mammoeval.core.errors import BadInputError
from mammoeval.data.labels import (
    infer_chest_wall,
    labels_from_name,
    normalize_laterality,
    normalize_view,
    read_label_manifest,
    view_from_code,
)


def breast(height: int = 160, width: int = 128, *, chest_wall: str = "left") -> np.ndarray:
    """Return a half-ellipse breast phantom (float32, tissue 0.3-0.8, background 0)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((yy - height / 2) / (0.45 * height)) ** 2 + (xx / (0.75 * width)) ** 2
    img = np.where(r2 < 1, 0.3 + 0.5 * (1 - r2), 0).astype(np.float32)
    return img if chest_wall == "left" else img[:, ::-1].copy()


@pytest.mark.parametrize(
    ("name", "view", "lat"),
    [
        ("L_CC.png", "CC", "L"),
        ("patient1_R-MLO.dcm", "MLO", "R"),
        ("LCC.png", "CC", "L"),
        ("case7/RMLO_0001.png", "MLO", "R"),
        ("scan.LEFT_CC.tif", "CC", "L"),
        ("MG_cc_right.png", "CC", "R"),
        ("x_MLO_L.jpg", "MLO", "L"),
        ("nyu_gmic_0_L-CC.png", "CC", "L"),
        ("generated_0042_mlo.png", "MLO", ""),
        ("mias_mdb001.pgm", "", ""),
        ("cddcesm_IM0041.jpg", "", ""),
        ("ARCC_scan.png", "", ""),
    ],
)
def test_labels_from_name(name: str, view: str, lat: str) -> None:
    assert labels_from_name(name) == (view, lat)


def test_normalize_view_and_laterality() -> None:
    assert normalize_view(" cc ") == "CC"
    assert normalize_view("medio-lateral oblique") == "MLO"
    assert normalize_view("XCCL") == "XCCL"
    assert normalize_view("spot compression") == "SPOT-COMPRESSION"  # kept, visible, not CC/MLO
    assert normalize_view(None) == "" and normalize_view("") == ""
    assert [normalize_laterality(v) for v in ("l", "Right", "B", "", None)] == ["L", "R", "", "", ""]


def test_view_from_code_prefers_the_code_value() -> None:
    assert view_from_code("R-10242", "whatever") == "CC"
    assert view_from_code("399368009", None) == "MLO"
    assert view_from_code("99-unknown", "cranio-caudal") == "CC"
    assert view_from_code(None, None) == ""


def test_read_label_manifest(tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text("path,view,laterality,split\n./a/x.png,cc,left,train\nb\\y.dcm,MLO,R,test\nz.png,,,\n")
    rows = read_label_manifest(f)
    assert set(rows) == {"a/x.png", "b/y.dcm", "z.png"}
    assert (rows["a/x.png"].view, rows["a/x.png"].laterality, rows["a/x.png"].split) == ("CC", "L", "train")
    assert (rows["b/y.dcm"].view, rows["b/y.dcm"].laterality, rows["b/y.dcm"].split) == ("MLO", "R", "test")
    assert rows["z.png"].view == ""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("file,view\nx.png,CC\n", "needs columns"),
        ("path,view,laterality\nx.png,CC,both\n", "line 2: laterality 'both'"),
        ("path,view,laterality\nx.png,CC,L\n./x.png,MLO,L\n", "line 3: path 'x.png' listed twice"),
    ],
)
def test_read_label_manifest_bad_input_names_the_file(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "my_labels.csv"
    f.write_text(text)
    with pytest.raises(BadInputError, match=rf"my_labels\.csv: .*{match}"):
        read_label_manifest(f)


def test_read_label_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="nope.csv"):
        read_label_manifest(tmp_path / "nope.csv")


@pytest.mark.parametrize("side", ["left", "right"])
def test_infer_chest_wall_on_a_phantom(side: str) -> None:
    cw = infer_chest_wall(breast(chest_wall=side))
    assert cw.side == side and cw.confidence > 0.5
    assert cw.laterality == ("L" if side == "left" else "R")


def test_infer_chest_wall_ignores_a_film_border_and_burned_in_text() -> None:
    img = breast(chest_wall="right")
    img[:, :3] = 1.0  # bright film edge on the LEFT (the nipple side)
    img[5:20, 8:30] = 1.0  # a label block near the left
    img += np.random.default_rng(0).normal(0, 0.02, img.shape).astype(np.float32)
    assert infer_chest_wall(img).side == "right"


def test_infer_chest_wall_has_no_confidence_on_a_blank_image() -> None:
    assert infer_chest_wall(np.zeros((64, 48), dtype=np.float32)).confidence == 0.0
