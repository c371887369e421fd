from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa import DETECTORS, check_image
from mammoeval.qa.anatomy import compute_anatomy
from mammoeval.qa.artifacts import detect_blobs, detect_broken
from mammoeval.qa.inject import inject


def test_clean_phantoms_are_not_flagged(phantoms):
    for view, img, _ in phantoms:
        row, _ = check_image(img, view=view)
        assert not row.any_artifact, row.reasons
        assert 0.0 < row.quality_score <= 1.0


@pytest.mark.parametrize("kind", ["checkerboard", "background", "broken"])
def test_blatant_injection_is_flagged(phantoms, kind):
    rng = np.random.default_rng(0)
    for view, img, mask in phantoms[:4]:
        bad = inject(kind, img, mask, strength=1.0, rng=rng)
        row, _ = check_image(bad, view=view)
        assert row.flag(kind), f"{kind} missed"


def test_checkerboard_score_grows_with_strength(phantoms):
    view, img, mask = phantoms[0]
    scores = [check_image(inject("checkerboard", img, mask, strength=s, rng=np.random.default_rng(3)))[0]
              .scores[DETECTORS.index("checkerboard")] for s in (0.1, 0.3, 1.0)]
    assert scores[0] < scores[1] < scores[2]


def test_boundary_hole_and_island_are_flagged(phantoms):
    _, img, mask = phantoms[0]
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    holed = img.copy()
    holed[(yy - 160) ** 2 + (xx - 50) ** 2 <= 12**2] = 0.0
    assert check_image(holed)[0].flag("boundary")
    right = int(np.nonzero(mask[160])[0].max())
    island = img.copy()
    island[(yy - 160) ** 2 + (xx - (right + 20)) ** 2 <= 10**2] = float(np.median(img[mask]))
    row = check_image(island)[0]
    assert row.flag("boundary") and "component" in row.reasons


def test_saturated_blob_and_black_hole_are_flagged(make_breast):
    img, _ = make_breast(320, 256)
    yy, xx = np.mgrid[:320, :256]
    disk = (yy - 160) ** 2 + (xx - 100) ** 2 <= 10**2
    sat = img.copy()
    sat[disk] = 1.0
    f = detect_blobs(sat, compute_anatomy(sat))
    assert f.flag and "saturated" in f.reason
    hole = img.copy()
    hole[disk] *= 0.05
    f = detect_blobs(hole, compute_anatomy(hole))
    assert f.flag and "dark" in f.reason
    assert not detect_blobs(img, compute_anatomy(img)).flag


@pytest.mark.parametrize("bad", [np.full((80, 64), np.nan, np.float32), np.full((80, 64), 0.3, np.float32),
                                 np.zeros((80, 64), np.float32)])
def test_broken_images_are_flagged_without_exceptions(bad):
    row, details = check_image(bad, view="CC", image_id="x")
    assert row.flag("broken") and row.quality_score == 0.0
    assert row.reasons.startswith("broken")
    assert details.calcs == ()


def test_nearly_empty_and_partial_nan():
    img = np.zeros((160, 128), np.float32)
    img[:2, :2] = 1.0
    assert detect_broken(img).flag
    img = np.full((160, 128), 0.5, np.float32)
    img[5, 5] = np.nan
    assert detect_broken(img).reason == "NaN/inf pixels"


def test_inject_rejects_bad_arguments(phantoms):
    _, img, mask = phantoms[0]
    with pytest.raises(ValueError, match="unknown artifact kind"):
        inject("stripes", img, mask, strength=0.5, rng=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strength"):
        inject("blobs", img, mask, strength=0.0, rng=np.random.default_rng(0))
