"""Pectoral muscle detection: synthetic hand cases, phantom truth, padding and flips, real-dev (skips when absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.pectoral import detect_pectoral

REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"


def _mlo_like(h: int = 256, w: int = 200, *, top: float = 80.0, reach: float = 180.0,
              pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, true muscle mask): a tall breast (rows full from the top) with a bright wedge
    left of the line x = top * (1 - y / reach), after `pad` black columns left of the chest wall."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    depth = 0.85 * w * np.sqrt(np.clip(1 - ((yy - 0.45 * h) / (0.62 * h)) ** 2, 0, 1)) * (yy < 0.95 * h)
    breast = xx < np.maximum(depth, 0.75 * w * (yy < 0.2 * h))
    muscle = breast & (xx < top * (1 - yy / reach))
    img = np.where(breast, 0.4 + 0.03 * rng.standard_normal((h, w)), 0.0)
    img = np.where(muscle, 0.75 + 0.02 * rng.standard_normal((h, w)), img).astype(np.float32)
    if pad:
        img = np.pad(img, ((0, 0), (pad, 0)))
        muscle = np.pad(muscle, ((0, 0), (pad, 0)))
    return np.clip(img, 0, 1), muscle


def test_bright_wedge_is_found_with_its_angle_and_area():
    img, muscle = _mlo_like()
    a = compute_anatomy(img)
    assert a.pectoral_present
    # line from (x=80, y=0) to (x=0, y=180): angle from vertical atan(80/180) = 24.0 degrees
    assert a.pectoral_angle_deg == pytest.approx(np.degrees(np.arctan2(80, 180)), abs=4.0)
    assert a.pectoral_area_fraction == pytest.approx(muscle.sum() / a.mask.sum() * a.factor**2, rel=0.25)


def test_black_padding_left_of_the_chest_wall_does_not_hide_the_muscle():
    img, _ = _mlo_like(pad=40)
    assert compute_anatomy(img).pectoral_present


def test_chest_wall_on_the_right_is_flipped_first():
    img, _ = _mlo_like()
    a = compute_anatomy(np.ascontiguousarray(img[:, ::-1]))
    assert a.chest_wall_side == "right"
    assert a.pectoral_present


def test_uniform_breast_and_half_disc_have_no_muscle(make_breast):
    img, _ = _mlo_like(top=0.5)
    assert not compute_anatomy(img).pectoral_present
    disc, _ = make_breast(320, 256)
    assert not compute_anatomy(disc).pectoral_present
    assert not detect_pectoral(np.zeros((64, 64), np.float32), np.zeros((64, 64), bool)).present


def test_phantom_muscle_matches_truth_and_cc_has_none():
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    ious = []
    for seed in (1001, 1002, 1003):
        mlo = render_phantom(seed, size=(320, 256), view="MLO", findings=FindingsConfig.none())
        a = compute_anatomy(mlo.image)
        assert a.pectoral_present
        up = np.kron(a.pectoral_mask, np.ones((a.factor, a.factor), bool))
        truth = mlo.truth.pectoral_mask[: up.shape[0], : up.shape[1]]
        ious.append((up & truth).sum() / (up | truth).sum())
        cc = render_phantom(seed, size=(320, 256), view="CC", findings=FindingsConfig.none())
        assert not compute_anatomy(cc.image).pectoral_present
    assert np.mean(ious) >= 0.7


@pytest.mark.skipif(not (REAL_DEV / "labels.csv").exists(), reason="real-dev data not present")
def test_real_dev_muscle_on_mlo_and_not_on_cc():
    from mammoeval.data.readers import read_image

    with open(REAL_DEV / "labels.csv", newline="") as f:
        labels = list(csv.DictReader(f))
    found = {"CC": [], "MLO": []}
    for lab in labels:
        img = reduce_to_height(read_image(REAL_DEV / lab["file"]).pixels, 512)[0]
        found[lab["view"]].append(compute_anatomy(img).pectoral_present)
    assert np.mean(found["MLO"]) >= 0.85
    assert np.mean(found["CC"]) <= 0.10
