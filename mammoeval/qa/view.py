"""View consistency: does an image look like the view it was generated or labelled as?

Two cues, both in canonical orientation (chest wall left):

- the pectoral muscle (`mammoeval.qa.pectoral`), seen in MLO views only;
- the axillary tail: an MLO breast runs on past the top edge of the image into the armpit, so its
  top rows are nearly as deep as the breast at its deepest; a CC breast is a half disc whose top
  rows are short. `axillary_tail_ratio` = mean depth of the top 5% of the breast's rows / its
  largest depth (measured from the breast's own leftmost column, so film padding does not count).

Predicted MLO: a pectoral muscle with a tail ratio of at least `TAIL_WITH_PECTORAL`, or a tail
ratio of at least `TAIL_ALONE` (muscle missed or too faint); CC otherwise. Agreement is measured
per given view over a set.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mammoeval.qa.anatomy import Anatomy

TAIL_ALONE = 0.7
"""Tail ratio that alone says MLO. Tune data (real-dev even files, phantoms seeds 0-11): CC at most
0.61 (a phantom; real CC at most 0.33), MLO at least 0.50 (real) / 0.58 (phantoms); 0.7 keeps CC
clear with 1.15 x margin, so only MLO breasts with a clear tail get this path."""

TAIL_WITH_PECTORAL = 0.35
"""Smallest tail ratio for which a detected pectoral muscle is believed (real MLO at least 0.50 =
1.4 x this; below it a bright chest-wall band of a CC half disc is the likelier cause)."""


def axillary_tail_ratio(mask: np.ndarray) -> float:
    """Return the mean breast depth of the top 5% of its rows over its largest depth (0 for an empty mask).

    Args:
        mask: bool [h, w] breast mask, chest wall left.
    """
    has = mask.any(axis=1)
    if not has.any():
        return 0.0
    w = mask.shape[1]
    depth = np.where(has, (w - np.argmax(mask[:, ::-1], axis=1)) - np.argmax(mask, axis=1), 0).astype(np.float64)
    rows = np.nonzero(has)[0]
    n_top = max(1, (rows[-1] + 1 - rows[0]) // 20)
    return float(depth[rows[0]:rows[0] + n_top].mean() / depth.max())


def predict_view(anatomy: Anatomy) -> str:
    """Return the view the anatomy looks like: "MLO", "CC" or "unknown" for an empty mask."""
    if not anatomy.mask.any():
        return "unknown"
    tail = axillary_tail_ratio(anatomy.mask)
    if tail >= TAIL_ALONE or (anatomy.pectoral_present and tail >= TAIL_WITH_PECTORAL):
        return "MLO"
    return "CC"


def compute_view_agreement(pairs: Iterable[tuple[str, str]]) -> dict[str, float | None]:
    """Return, per given view ("CC", "MLO"), the share of images whose predicted view matches.

    Args:
        pairs: (given view, predicted view) per image; given views other than CC/MLO are ignored.

    Returns:
        {"CC": share or None when no CC image, "MLO": ..., "all": share over both}.
    """
    hits: dict[str, list[bool]] = {"CC": [], "MLO": []}
    for given, predicted in pairs:
        if given in hits:
            hits[given].append(given == predicted)
    both = hits["CC"] + hits["MLO"]
    out: dict[str, float | None] = {v: (sum(h) / len(h) if h else None) for v, h in hits.items()}
    out["all"] = sum(both) / len(both) if both else None
    return out
