"""View consistency: does an image look like the view it was generated or labelled as?

The predicted view is MLO when a pectoral muscle is found in the upper chest-wall corner and CC
otherwise; agreement is measured per given view over a set.
"""

from __future__ import annotations

from collections.abc import Iterable

from mammoeval.qa.anatomy import Anatomy


def predict_view(anatomy: Anatomy) -> str:
    """Return "MLO" when the anatomy has a pectoral muscle, else "CC" ("unknown" for an empty mask)."""
    if not anatomy.mask.any():
        return "unknown"
    return "MLO" if anatomy.pectoral_present else "CC"


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
