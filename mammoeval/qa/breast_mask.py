"""QA's breast mask at an image's own size and orientation, for breast-aware metrics.

`compute_breast_mask` runs `mammoeval.qa.anatomy.compute_anatomy` (about 256 rows; tens of ms per
image) and maps its canonical, coarse mask back: un-flipped when the chest wall is on the right and
upsampled (nearest) to the full size. Metrics receive it as a function (they may not import QA):
`mammoeval.metrics.regions.BreastMasker`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mammoeval.qa.anatomy import compute_anatomy


def compute_breast_mask(image: np.ndarray) -> np.ndarray:
    """Return the bool [H, W] breast mask of one float [H, W] image in [0, 1] (may be all False)."""
    a = compute_anatomy(np.asarray(image, dtype=np.float32))
    mask = a.mask if a.chest_wall_side == "left" else a.mask[:, ::-1]
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return F.interpolate(t, size=image.shape, mode="nearest")[0, 0].numpy() > 0.5
