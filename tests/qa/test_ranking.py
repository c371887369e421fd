"""Quality score: artifacts and view disagreement rank an image below a clean one; hand-computed scores."""

from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa import check_image
from mammoeval.qa.artifacts import Finding
from mammoeval.qa.ranking import VIEW_MISMATCH_FACTOR, compute_quality_score, pick_best_worst


def _finding(name: str, score: float, threshold: float = 1.0) -> Finding:
    return Finding(name=name, score=score, flag=score >= threshold, threshold=threshold, reason="", heatmap=None)


def test_quality_score_hand_cases():
    assert compute_quality_score([_finding("a", 0.0)], view_agrees=None) == 1.0
    assert compute_quality_score([_finding("a", 0.5), _finding("b", 1.0)], view_agrees=None) == pytest.approx(0.5)
    assert compute_quality_score([_finding("a", 0.5)], view_agrees=False) == pytest.approx(0.75 * VIEW_MISMATCH_FACTOR)
    assert compute_quality_score([_finding("broken", 5.0)], view_agrees=True) == 0.0


@pytest.mark.parametrize("kind", ["checkerboard", "blobs", "background", "broken"])
def test_image_with_an_artifact_ranks_below_the_clean_one(phantoms, kind):
    from mammoeval.qa.inject import inject

    view, img, mask = phantoms[1]
    clean, _ = check_image(img, view=view, image_id="clean")
    bad = inject(kind, img, mask, strength=1.0, rng=np.random.default_rng(3))
    dirty, _ = check_image(bad, view=view, image_id="dirty")
    assert dirty.any_artifact and not clean.any_artifact
    assert dirty.quality_score < clean.quality_score
    best, worst = pick_best_worst([dirty, clean], n=1)
    assert best[0].id == "clean" and worst[0].id == "dirty"


def test_view_disagreement_lowers_quality(phantoms):
    view, img, _ = phantoms[1]  # an MLO phantom
    right, _ = check_image(img, view=view)
    wrong, _ = check_image(img, view="CC" if view == "MLO" else "MLO")
    assert right.predicted_view == view
    assert wrong.quality_score == pytest.approx(right.quality_score * VIEW_MISMATCH_FACTOR, rel=1e-6)
