"""View prediction (pectoral + axillary tail) and agreement; real-dev agreement (skips when absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mammoeval.core.imageops import reduce_to_height
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.view import axillary_tail_ratio, compute_view_agreement, predict_view

REAL_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-dev"


def test_tail_ratio_hand_cases():
    rect = np.zeros((100, 80), bool)
    rect[:, :40] = True
    assert axillary_tail_ratio(rect) == pytest.approx(1.0)
    tri = np.zeros((100, 100), bool)
    for y in range(100):
        tri[y, : y + 1] = True  # depth y + 1: top 5 rows mean 3, max 100
    assert axillary_tail_ratio(tri) == pytest.approx(3 / 100)
    padded = np.pad(rect, ((0, 0), (30, 0)))  # black film padding left of the chest wall
    assert axillary_tail_ratio(padded) == pytest.approx(1.0)
    assert axillary_tail_ratio(np.zeros((10, 10), bool)) == 0.0


def test_phantom_views_are_predicted():
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    pairs = []
    for seed in range(1010, 1014):
        for view in ("CC", "MLO"):
            img = render_phantom(seed, size=(320, 256), view=view, findings=FindingsConfig.none()).image
            pairs.append((view, predict_view(compute_anatomy(img))))
    agree = compute_view_agreement(pairs)
    assert agree["CC"] >= 0.75 and agree["MLO"] >= 0.75


def test_empty_image_is_unknown_and_agreement_hand_case():
    assert predict_view(compute_anatomy(np.zeros((64, 64), np.float32))) == "unknown"
    out = compute_view_agreement([("CC", "CC"), ("CC", "MLO"), ("MLO", "MLO"), ("unknown", "CC")])
    assert out == {"CC": 0.5, "MLO": 1.0, "all": pytest.approx(2 / 3)}
    assert compute_view_agreement([]) == {"CC": None, "MLO": None, "all": None}


@pytest.mark.skipif(not (REAL_DEV / "labels.csv").exists(), reason="real-dev data not present")
def test_real_dev_view_agreement():
    from mammoeval.data.readers import read_image

    with open(REAL_DEV / "labels.csv", newline="") as f:
        labels = list(csv.DictReader(f))
    pairs = [(lab["view"], predict_view(compute_anatomy(
        reduce_to_height(read_image(REAL_DEV / lab["file"]).pixels, 512)[0]))) for lab in labels]
    agree = compute_view_agreement(pairs)
    assert agree["CC"] >= 0.85 and agree["MLO"] >= 0.85
