"""check_image promises never to raise on pixel content: odd sizes, noise, binary and near-empty images."""

from __future__ import annotations

import numpy as np
import pytest

from mammoeval.qa import DETECTORS, check_image


def _odd_images(seed: int) -> list[np.ndarray]:
    """Small images of awkward content, each at a random size between 16 and 90 px a side."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in range(5):
        h, w = (int(v) for v in rng.integers(16, 90, size=2))
        if kind == 0:
            img = rng.random((h, w))
        elif kind == 1:  # a noisy half-ellipse breast
            yy, xx = np.mgrid[:h, :w]
            img = np.where((xx / (w * rng.uniform(0.3, 1))) ** 2 + ((yy - h / 2) / (h / 2)) ** 2 < 1,
                           rng.uniform(0.2, 1), 0.0) + rng.normal(0, 0.05, (h, w))
        elif kind == 2:  # one bright pixel and a corner label
            img = np.zeros((h, w))
            img[rng.integers(h), rng.integers(w)] = 1.0
            img[:2, :2] = 0.3
        elif kind == 3:  # binary salt and pepper
            img = (rng.random((h, w)) > 0.5).astype(float)
        else:  # saturated block with a black hole
            img = np.zeros((h, w))
            img[:, : int(w * 0.7)] = 1.0
            img[h // 3: h // 2, w // 4: w // 2] = 0.0
        out.append(np.clip(img, 0, 1).astype(np.float32))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_check_image_never_raises_on_odd_content(seed: int) -> None:
    for img in _odd_images(seed):
        row, _ = check_image(img, view="CC", image_id=f"odd{seed}")
        assert len(row.flags) == len(DETECTORS)
        assert set(row.scores) == set(DETECTORS) and all(np.isfinite(s) for s in row.scores.values())


def test_clean_phantom_background_is_not_flagged_at_a_training_resolution() -> None:
    """At 80x64 (the demo's final resolution) the band-pass halo of the skin line is not background texture."""
    from mammoeval.core.imageops import reduce_to_height
    from mammoeval.data.phantom import render_phantom

    for seed in range(6):
        for view in ("CC", "MLO"):
            img = reduce_to_height(render_phantom(seed, size=(320, 256), view=view).image, 80)[0]
            row, _ = check_image(img, view=view)
            assert not row.flags["background"], (seed, view)
