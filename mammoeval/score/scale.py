"""What each metric of a score row saw: its sample size and working resolution (the row's "scale").

Scoring N images does not mean every metric uses N images at full resolution: each metric keeps a
seeded uniform sample of at most a fixed number of images per set and works at its own
resolution. `scale_of` states both, per metric, from the settings the suite actually used, so a
row says how its numbers were obtained (docs/scale.md explains the defaults and their cost).
"""

from __future__ import annotations

import math
from typing import Any

from mammoeval.metrics.inception import INCEPTION_INPUT_SIZE
from mammoeval.metrics.offline import OFFLINE_HEIGHT
from mammoeval.qa.scan import QAConfig


def _at_height(size: tuple[int, int], height: int) -> list[int]:
    h, w = size
    return [height, max(1, round(height * w / h))]


def scale_of(suite_settings: dict[str, Any], *, size: tuple[int, int], n_real: int, n_fake: int,
             qa: QAConfig | None) -> dict[str, Any]:
    """Return metric -> {"images_real", "images_fake", "working_resolution" [h, w], ...} for one row.

    Args:
        suite_settings: the "settings" object of the suite's JSON (per-metric settings it used).
        size: (height, width) of the scored images.
        n_real, n_fake: images in each set.
        qa: the QA settings (None = QA off).
    """
    def capped(cap: int | None) -> dict[str, int]:
        return {"images_real": min(n_real, cap) if cap else n_real, "images_fake": min(n_fake, cap) if cap else n_fake}

    out: dict[str, Any] = {}
    for name in ("swd", "swd_breast"):
        swd = suite_settings.get(name)
        if isinstance(swd, dict):
            out[name] = {**capped(swd.get("max_images")), "working_resolution": list(size),
                         "patches_per_image_per_level": swd.get("patches_per_image"),
                         "bootstrap_images": swd.get("bootstrap_max_images")}
    for name in ("msssim", "msssim_breast"):
        ms = suite_settings.get(name)
        if isinstance(ms, dict):
            out[name] = {**capped(ms.get("max_images")), "working_resolution": list(size),
                         "pairs_per_set_and_view": ms.get("n_pairs")}
    for space, res in (("offline", _at_height(size, OFFLINE_HEIGHT)), ("inception", list(INCEPTION_INPUT_SIZE))):
        f = suite_settings.get(f"features_{space}")
        if isinstance(f, dict):
            out[f"features_{space}"] = {**capped(f.get("max_items")), "working_resolution": res}
    memo = suite_settings.get("memorization")
    if isinstance(memo, dict):
        out["memorization"] = {**capped(None), "working_resolution": _at_height(size, int(memo.get("pixel_height", 64))),
                               "feature_space": memo.get("extractor")}
    if qa is not None:
        factor = max(1, math.ceil(size[0] / qa.max_height))
        out["qa"] = {**capped(None), "working_resolution": [size[0] // factor, size[1] // factor]}
    for name, s in suite_settings.items():  # metrics that state their own scale (sample_size, working_resolution)
        if name not in out and isinstance(s, dict) and "working_resolution" in s:
            out[name] = {k: s[k] for k in ("sample_size", "working_resolution") if k in s}
    return out
