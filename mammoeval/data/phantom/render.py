"""render_phantom: one seeded procedural mammogram in canonical orientation, with its ground truth.

Intensity model (processed FFDM look, tissue bright on a black background): a fat level that falls
off towards the skin (thinner breast at the periphery), plus fibroglandular tissue (power-law
texture under a density map concentrated behind the nipple, absent in the subcutaneous fat layer),
plus thin strands (ducts, vessels), a brighter skin line, and for MLO a bright pectoral muscle with
faint fibre striations. Findings are drawn last.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mammoeval.core.errors import ConfigError
from mammoeval.core.views import LATERALITIES, VIEWS
from mammoeval.data.phantom.anatomy import Anatomy, make_anatomy
from mammoeval.data.phantom.findings import draw_calcifications, draw_marker, draw_text
from mammoeval.data.phantom.texture import glandular_map, power_law_noise, strands
from mammoeval.data.phantom.truth import FindingsConfig, PhantomImage, PhantomTruth

MIN_SIZE_PX = 32
"""Smallest height and width render_phantom accepts."""

_TISSUE_FLOOR = 0.02
"""Every breast pixel is at least this bright, so that the breast is exactly the nonzero region."""


def render_phantom(
    seed: int,
    *,
    size: tuple[int, int] = (320, 256),
    view: str = "CC",
    laterality: str = "L",
    findings: FindingsConfig = FindingsConfig(),
) -> PhantomImage:
    """Return a phantom mammogram (float32 [H, W] in [0, 1], chest wall LEFT) and its ground truth.

    The same arguments give bit-identical output. The image is exactly 0 outside the breast mask
    except where a skin marker or burned-in text is drawn.

    Args:
        seed: the image's seed, any non-negative integer; all randomness of the image derives from it.
            Image i of a dataset made with seed S has seed `phantom_seed(S, i)` (stream
            `Stream.PHANTOM_IMAGE` of S, item i; `mammoeval.core.seeding`).
        size: (height, width) in pixels, each >= 32.
        view: "CC" or "MLO".
        laterality: "L" or "R"; changes only the burned-in text (mirrored for "R", as on a real
            right-breast image flipped into canonical orientation) and the text's wording.
        findings: which findings to draw; `FindingsConfig.none()` for none.

    Raises:
        ConfigError: unknown view or laterality, size too small, negative seed.
    """
    _check_args(seed, size, view, laterality)
    rng = np.random.default_rng(seed)
    h, w = size
    anatomy = make_anatomy(rng, height=h, width=w, view=view)
    density_target = float(rng.beta(2.0, 3.0) * 0.85 + 0.05)
    # The soft threshold inside glandular_map flattens the spectrum by about 0.3-0.4: start steeper
    # so that the image itself measures beta ~ 3.
    gland = glandular_map(rng, anatomy, density=density_target, beta=float(rng.uniform(3.2, 3.6)))
    image = _compose(rng, anatomy, gland)
    inside = anatomy.breast_mask & (anatomy.pectoral_weight < 0.5)
    density = float(gland[inside].mean()) if inside.any() else 0.0
    calcs = draw_calcifications(rng, image, anatomy, findings)
    markers = draw_marker(rng, image, anatomy, findings)
    texts = draw_text(rng, image, anatomy, findings, text=f"{laterality} {view}", mirrored=laterality == "R")
    truth = PhantomTruth(
        view=view,
        laterality=laterality,
        breast_mask=anatomy.breast_mask,
        pectoral_mask=anatomy.pectoral_mask,
        chest_wall_side="left",
        density=round(density, 4),
        calcifications=calcs,
        markers=markers,
        texts=texts,
    )
    return PhantomImage(image=image, truth=truth)


def _check_args(seed: int, size: tuple[int, int], view: str, laterality: str) -> None:
    if view not in VIEWS:
        raise ConfigError(f"phantom view must be one of {list(VIEWS)}, got {view!r}")
    if laterality not in LATERALITIES:
        raise ConfigError(f"phantom laterality must be one of {list(LATERALITIES)}, got {laterality!r}")
    if len(size) != 2 or min(size) < MIN_SIZE_PX:
        raise ConfigError(f"phantom size must be (height, width) with both >= {MIN_SIZE_PX}, got {size}")
    if seed < 0:
        raise ConfigError(f"phantom seed must be >= 0, got {seed}")


def _compose(rng: np.random.Generator, anatomy: Anatomy, gland: np.ndarray) -> np.ndarray:
    """Return the finding-free image: fat, glands, strands, skin line and pectoral muscle, 0 outside."""
    mask = anatomy.breast_mask
    h, w = mask.shape
    scale = h / 320.0
    dist = anatomy.skin_distance_px
    falloff_px = w * rng.uniform(0.04, 0.09)
    thickness = 1.0 - 0.55 * np.exp(-dist / falloff_px)
    fat = rng.uniform(0.16, 0.28)
    gland_contrast = rng.uniform(0.45, 0.62)
    fine = power_law_noise(rng, (h, w), beta=3.0)
    tissue = fat + gland * gland_contrast * (1.0 + 0.12 * fine)
    tissue += 0.035 * fine * (1.0 - gland)  # fat lobules: fatty breasts have texture too
    n_strands = int(rng.integers(6, 18))
    tissue += rng.uniform(0.025, 0.06) * strands(rng, anatomy, n=n_strands) * (0.4 + 0.6 * (1.0 - gland))
    image = tissue * thickness
    skin_px = max(0.7, 0.8 * scale)
    image += rng.uniform(0.08, 0.18) * np.exp(-0.5 * ((dist - 1.0) / skin_px) ** 2)
    if anatomy.pectoral_weight.any():
        image = _blend_pectoral(rng, image, anatomy)
    image = np.clip(image, _TISSUE_FLOOR, 1.0) * mask
    return image.astype(np.float32)


def _blend_pectoral(rng: np.random.Generator, image: np.ndarray, anatomy: Anatomy) -> np.ndarray:
    """Return `image` with a bright pectoral muscle (brighter towards the corner, faint striations) blended in."""
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    corner = np.clip(1.0 - np.hypot(xx / w, yy / h) * 1.4, 0.0, 1.0)
    level = rng.uniform(0.66, 0.84)
    # Faint fibre striations running along the muscle (top right to bottom left).
    fibres = power_law_noise(rng, (h, w), beta=2.5, stretch=4.0)
    fibres = ndimage.rotate(fibres, angle=float(rng.uniform(-70, -50)), reshape=False, order=1, mode="wrap")
    muscle = level * (0.8 + 0.2 * corner) + 0.03 * fibres
    weight = anatomy.pectoral_weight
    return image * (1.0 - weight) + muscle * weight
