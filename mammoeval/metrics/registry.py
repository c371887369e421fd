"""Metric names and result keys: the only place they are spelled.

Names select metrics (``--metrics swd,fid``); keys name the numbers they produce. SWD keys are
``swd_avg`` and one per pyramid level, ``swd_l0`` (full resolution) ... ``swd_l{L-1}`` (level i
is ceil(H / 2**i) x ceil(W / 2**i)); values are raw (the paper prints SWD x 1e3: a display
convention applied by the CLI table and reports, never stored). Feature metrics in the offline
space carry the ``_offline`` suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from mammoeval.errors import ConfigError

KEY_SWD_AVG: Final = "swd_avg"
KEY_MSSSIM_FAKE: Final = "msssim_fake"
KEY_MSSSIM_REAL: Final = "msssim_real"
KEY_MSSSIM_GAP: Final = "msssim_gap"
KEY_FID: Final = "fid"
KEY_FID_INF: Final = "fid_inf"
KEY_KID: Final = "kid"
KEY_PRECISION: Final = "precision"
KEY_RECALL: Final = "recall"
KEY_DENSITY: Final = "density"
KEY_COVERAGE: Final = "coverage"
KEY_MEMORIZATION_RATE: Final = "memorization_rate"
KEY_NN_DISTANCE_MEDIAN: Final = "nn_distance_median"
OFFLINE_SUFFIX: Final = "_offline"
SWD_DISPLAY_SCALE: Final = 1e3
"""SWD values are shown x1e3 (as in Karras et al. 2018); stored raw."""


def swd_level_key(level: int) -> str:
    """Return the key of SWD pyramid level `level` (0 = full resolution)."""
    return f"swd_l{level}"


Kind = Literal["swd", "msssim", "features", "memorization"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric name selects.

    Attributes:
        name: the name users type.
        kind: which implementation computes it.
        keys: result keys it produces (SWD adds one per level).
        space: feature space for kind "features" ("inception" or "offline"), else None.
        output: which feature number ("fid", "kid", "prdc") for kind "features", else None.
        description: one line for `--help` and the docs.
    """

    name: str
    kind: Kind
    keys: tuple[str, ...]
    space: Literal["inception", "offline"] | None = None
    output: Literal["fid", "kid", "prdc"] | None = None
    description: str = ""


_REGISTRY: dict[str, MetricSpec] = {}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def register(spec: MetricSpec) -> MetricSpec:
    """Add a metric; refuse duplicates and names that are not snake_case."""
    if not _NAME_RE.match(spec.name):
        raise ValueError(f"metric name must be snake_case, got {spec.name!r}")
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _prdc_keys(suffix: str) -> tuple[str, ...]:
    return tuple(k + suffix for k in (KEY_PRECISION, KEY_RECALL, KEY_DENSITY, KEY_COVERAGE))


register(MetricSpec("swd", "swd", (KEY_SWD_AVG,), description="multi-scale sliced Wasserstein distance (raw; shown x1e3)"))
register(MetricSpec("msssim", "msssim", (KEY_MSSSIM_FAKE, KEY_MSSSIM_REAL, KEY_MSSSIM_GAP),
                    description="MS-SSIM diversity of generated and real pairs (lower = more diverse)"))
register(MetricSpec("fid", "features", (KEY_FID, KEY_FID_INF), "inception", "fid",
                    "Fréchet Inception distance (equal-size sets) and FD-infinity where the sets allow"))
register(MetricSpec("kid", "features", (KEY_KID,), "inception", "kid", "kernel Inception distance"))
register(MetricSpec("prdc", "features", _prdc_keys(""), "inception", "prdc",
                    "precision, recall, density, coverage on Inception features"))
register(MetricSpec("fid_offline", "features", (KEY_FID + OFFLINE_SUFFIX, KEY_FID_INF + OFFLINE_SUFFIX), "offline", "fid",
                    "Fréchet distance in the offline feature space (not comparable with FID)"))
register(MetricSpec("kid_offline", "features", (KEY_KID + OFFLINE_SUFFIX,), "offline", "kid",
                    "KID in the offline feature space"))
register(MetricSpec("prdc_offline", "features", _prdc_keys(OFFLINE_SUFFIX), "offline", "prdc",
                    "precision, recall, density, coverage in the offline feature space"))
register(MetricSpec("memorization", "memorization", (KEY_MEMORIZATION_RATE, KEY_NN_DISTANCE_MEDIAN),
                    description="nearest-training-image copy check (pixels and offline features)"))


def list_metrics() -> tuple[str, ...]:
    """Return every valid metric name, in registration order."""
    return tuple(_REGISTRY)


def is_valid_metric(name: str) -> bool:
    """True when `name` is a registered metric."""
    return name in _REGISTRY


def resolve_metrics(names: str | list[str] | tuple[str, ...]) -> tuple[MetricSpec, ...]:
    """Return the specs of `names` (a list or a comma-separated string), duplicates dropped, order kept.

    Raises:
        ConfigError: a name is unknown (the message lists the valid ones) or none is given.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    items = [n.strip() for n in items if n.strip()]
    if not items:
        raise ConfigError(f"no metric given; valid metrics: {', '.join(list_metrics())}")
    bad = [n for n in items if n not in _REGISTRY]
    if bad:
        raise ConfigError(f"unknown metric {bad[0]!r}; valid metrics: {', '.join(list_metrics())}")
    return tuple(_REGISTRY[n] for n in dict.fromkeys(items))
