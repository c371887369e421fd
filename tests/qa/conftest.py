"""Fixtures for the QA tests: tiny seeded phantoms and a smooth synthetic breast."""

from __future__ import annotations

import numpy as np
import pytest


def smooth_breast(h: int = 160, w: int = 128, *, level: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, mask): a half-disc breast (chest wall left) of slowly varying grey on black."""
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2) / (0.45 * h)) ** 2 + (xx / (0.7 * w)) ** 2 <= 1.0
    img = np.where(mask, level + 0.05 * np.cos(yy / 17.0) * np.sin(xx / 13.0), 0.0).astype(np.float32)
    return img, mask


def canonical_real(path: object, max_height: int) -> tuple[np.ndarray, object]:
    """Return (image box-reduced to <= max_height rows with the chest wall LEFT, its Anatomy) of a real file."""
    from mammoeval.core.imageops import reduce_to_height
    from mammoeval.data.readers import read_image
    from mammoeval.qa.anatomy import compute_anatomy

    img = reduce_to_height(read_image(path).pixels, max_height)[0]  # type: ignore[arg-type]
    an = compute_anatomy(img)
    if an.chest_wall_side == "right":
        img = np.ascontiguousarray(img[:, ::-1])
        an = compute_anatomy(img)
    return img, an


@pytest.fixture(scope="session")
def phantoms() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Return clean 320x256 phantoms as (view, image, breast mask), 3 seeds x 2 views."""
    from mammoeval.data.phantom import FindingsConfig, render_phantom

    out = []
    for seed in range(3):
        for view in ("CC", "MLO"):
            p = render_phantom(seed, size=(320, 256), view=view, findings=FindingsConfig(p_calcifications=0.5))
            out.append((view, p.image, p.truth.breast_mask))
    return out


@pytest.fixture(scope="session")
def make_breast():
    """Return the `smooth_breast(h, w, level=...)` factory."""
    return smooth_breast
