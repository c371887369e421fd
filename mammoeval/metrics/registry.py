"""The metric registry: one `MetricSpec` per metric name, the only place metrics are described.

A spec holds the factory that builds the metric object, the result keys it produces with their
direction (lower or higher is better), display scale and headline flag, and the feature extractor
it needs. The suite builds metrics from it; score rows, checkpoint selection, the gate, the summary
table and the report read directions, scales and headline keys from it. Derived keys (numbers a
score row combines from several places, e.g. ``artifact_rate``) are registered with
`register_derived`.

Adding a metric: write its module (a `mammoeval.metrics.base.Metric`), spell its keys in
`mammoeval.metrics.keys`, and add one `register(MetricSpec(...))` call below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import torch

from mammoeval.core.errors import ConfigError
from mammoeval.metrics.base import Metric
from mammoeval.metrics.c2st import C2STMetric, C2STSettings
from mammoeval.metrics.features import (
    FeatureExtractor,
    FeatureMetric,
    FeatureOutput,
    FeatureSettings,
    FeatureSpace,
)
from mammoeval.metrics.frd import FRDMetric, FRDSettings
from mammoeval.metrics.keys import (
    KEY_ARTIFACT_RATE,
    KEY_ARTIFACT_RATE_REAL,
    KEY_C2ST_AUC,
    KEY_FID,
    KEY_FID_INF,
    KEY_FRD,
    KEY_FRD_BREAST,
    KEY_KID,
    KEY_MEMORIZATION_RATE,
    KEY_MSSSIM_FAKE,
    KEY_MSSSIM_FAKE_BREAST,
    KEY_MSSSIM_GAP,
    KEY_MSSSIM_GAP_BREAST,
    KEY_MSSSIM_REAL,
    KEY_MSSSIM_REAL_BREAST,
    KEY_NN_DISTANCE_MEDIAN,
    KEY_SWD_AVG,
    KEY_SWD_AVG_BREAST,
    PRDC_KEYS,
    SWD_BREAST_LEVEL_PREFIX,
    SWD_LEVEL_PREFIX,
    offline_key,
)
from mammoeval.metrics.memorization import MemorizationMetric, MemorizationSettings
from mammoeval.metrics.msssim import MSSSIMDiversity, MSSSIMSettings
from mammoeval.metrics.radiomics import RADIOMICS_FIX, radiomics_version
from mammoeval.metrics.regions import NO_MASKER_REASON, BreastMasker
from mammoeval.metrics.swd import SWDMetric, SWDSettings

Direction = Literal["min", "max"]
"""Which values of a key are better: "min" (lower) or "max" (higher)."""

SWD_DISPLAY_SCALE: Final = 1e3
"""SWD values are shown x1e3 (as in Karras et al. 2018); stored raw."""

SWD_MAX_BOOTSTRAP: Final[int] = 50
"""SWD intervals use at most this many bootstrap replicates (each filters every level's sorted projections)."""

FRD_MAX_BOOTSTRAP: Final[int] = 50
"""FRD intervals use at most this many bootstrap replicates."""


@dataclass(frozen=True)
class KeySpec:
    """One result key of a metric.

    Attributes:
        key: the key as stored in score rows; with `levels`, the prefix of ``<key><level>`` keys.
        direction: "min" when lower is better, "max" when higher is better.
        display_scale: tables, plots and reports show ``value * display_scale`` (stored raw).
        headline: shown in the report's summary table.
        levels: `key` is a prefix followed by a level number (SWD's ``swd_l0``, ``swd_l1``, ...).
    """

    key: str
    direction: Direction
    display_scale: float = 1.0
    headline: bool = False
    levels: bool = False

    def matches(self, key: str) -> bool:
        """True when `key` is this key (or, with `levels`, one of its levels)."""
        if self.levels:
            return key.startswith(self.key) and key[len(self.key):].isdigit()
        return key == self.key


@dataclass(frozen=True)
class BuildContext:
    """What a factory may use to build a metric object.

    Attributes:
        seed: seeds every random choice of the metric.
        n_bootstrap: bootstrap replicates for intervals (0 = none).
        device: where images are processed.
        extractors: the feature extractors the suite built, by space (only those some spec needs).
        breast_masker: QA's breast-mask function for breast-aware metrics (None = not given: those
            metrics are unavailable).
    """

    seed: int
    n_bootstrap: int
    device: str | torch.device
    extractors: Mapping[FeatureSpace, FeatureExtractor]
    breast_masker: BreastMasker | None = None


MetricFactory = Callable[[BuildContext, tuple["MetricSpec", ...]], Metric]
"""Builds one metric object for the selected specs of one group (in the order the user gave them)."""


@dataclass(frozen=True)
class MetricSpec:
    """What a metric name selects.

    Attributes:
        name: the name users type (``--metrics swd,fid``).
        factory: builds the metric object (see `MetricFactory`).
        keys: the result keys it produces.
        description: one line for `--help` and the docs.
        extractor: the feature space whose extractor it needs, None for none.
        group: specs of one group are built into one metric object (FID, KID and PRDC of one
            feature space share their features); "" = the metric's own name.
        output: which number of a shared metric object this spec selects (feature metrics:
            "fid", "kid" or "prdc"), else None.
        default: part of the default suite.
        unavailable_reason: returns why the metric cannot be built in a context (a missing optional
            package, no breast masker), None when it can; None = always buildable.
    """

    name: str
    factory: MetricFactory
    keys: tuple[KeySpec, ...]
    description: str
    extractor: FeatureSpace | None = None
    group: str = ""
    output: FeatureOutput | None = None
    default: bool = True
    unavailable_reason: Callable[[BuildContext], str | None] | None = None

    @property
    def group_name(self) -> str:
        """The group this spec is built in."""
        return self.group or self.name


_REGISTRY: dict[str, MetricSpec] = {}
_DERIVED: dict[str, KeySpec] = {}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_key(k: KeySpec) -> None:
    if not _NAME_RE.match(k.key):
        raise ValueError(f"metric key must be snake_case, got {k.key!r}")
    if k.direction not in ("min", "max"):
        raise ValueError(f"key {k.key!r}: direction must be 'min' or 'max', got {k.direction!r}")
    if not (math.isfinite(k.display_scale) and k.display_scale > 0):
        raise ValueError(f"key {k.key!r}: display_scale must be a positive number, got {k.display_scale!r}")
    if any(s.key == k.key for s in _all_key_specs()):
        raise ValueError(f"metric key {k.key!r} is already registered")


def register(spec: MetricSpec) -> MetricSpec:
    """Add a metric; refuse duplicate names or keys, names that are not snake_case and bad key specs."""
    if not _NAME_RE.match(spec.name):
        raise ValueError(f"metric name must be snake_case, got {spec.name!r}")
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    if not spec.keys:
        raise ValueError(f"metric {spec.name!r} has no result keys")
    for k in spec.keys:
        _check_key(k)
    _REGISTRY[spec.name] = spec
    return spec


def register_derived(key: KeySpec) -> KeySpec:
    """Add a derived key (computed by `mammoeval.score.rows.metric_of` from several places of a row)."""
    _check_key(key)
    _DERIVED[key.key] = key
    return key


def _all_key_specs() -> list[KeySpec]:
    return [k for s in _REGISTRY.values() for k in s.keys] + list(_DERIVED.values())


def list_metrics() -> tuple[str, ...]:
    """Return every valid metric name, in registration order."""
    return tuple(_REGISTRY)


def default_metrics() -> tuple[str, ...]:
    """Return the names of the default suite, in registration order."""
    return tuple(n for n, s in _REGISTRY.items() if s.default)


def is_valid_metric(name: str) -> bool:
    """True when `name` is a registered metric."""
    return name in _REGISTRY


def metric_spec(name: str) -> MetricSpec:
    """Return the spec of metric `name` (KeyError when unknown; see `resolve_metrics` for user input)."""
    return _REGISTRY[name]


def resolve_metrics(names: str | Sequence[str]) -> tuple[MetricSpec, ...]:
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


def find_key_spec(key: str) -> KeySpec | None:
    """Return the spec of result or derived key `key`, or None when no metric produces it."""
    return next((k for k in _all_key_specs() if k.matches(key)), None)


def key_spec(key: str) -> KeySpec:
    """Return the spec of result or derived key `key`.

    Raises:
        ConfigError: no registered metric produces `key` (the message lists the known keys).
    """
    found = find_key_spec(key)
    if found is None:
        raise ConfigError(f"unknown metric key {key!r}; known keys: {', '.join(known_keys())}")
    return found


def direction_of(key: str) -> Direction:
    """Return whether lower ("min") or higher ("max") values of `key` are better (ConfigError if unknown)."""
    return key_spec(key).direction


def display_scale(key: str) -> float:
    """Return the factor tables and reports multiply `key`'s raw value by (ConfigError if unknown)."""
    return key_spec(key).display_scale


def scale_suffix(scale: float) -> str:
    """Return how a display scale is written in headers: "" for 1, "x1e3" for 1000, "x0.5" otherwise."""
    if scale == 1.0:
        return ""
    exponent = math.log10(scale)
    return f"x1e{int(round(exponent))}" if abs(exponent - round(exponent)) < 1e-9 else f"x{scale:g}"


def display_label(key: str) -> str:
    """Return `key` with its display scale, e.g. ``swd_avg (x1e3)``; unknown keys are returned as given."""
    found = find_key_spec(key)
    suffix = scale_suffix(found.display_scale) if found is not None else ""
    return f"{key} ({suffix})" if suffix else key


def headline_keys() -> tuple[str, ...]:
    """Return the keys shown in summary tables, in registration order."""
    return tuple(k.key for s in _REGISTRY.values() for k in s.keys if k.headline and not k.levels)


def derived_keys() -> tuple[str, ...]:
    """Return the derived keys, in registration order."""
    return tuple(_DERIVED)


def known_keys() -> tuple[str, ...]:
    """Return every registered result key (level keys as ``<prefix>N``) and derived key."""
    return tuple(f"{k.key}N" if k.levels else k.key for k in _all_key_specs())


# Factories: one per group of specs built into one metric object.

def _build_swd(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    # Each SWD replicate filters every level's tagged sorted projections: at most SWD_MAX_BOOTSTRAP of them.
    return SWDMetric(SWDSettings(seed=ctx.seed, n_bootstrap=min(ctx.n_bootstrap, SWD_MAX_BOOTSTRAP)),
                     device=ctx.device)


def _build_swd_breast(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    return SWDMetric(SWDSettings(region="breast", seed=ctx.seed, n_bootstrap=min(ctx.n_bootstrap, SWD_MAX_BOOTSTRAP)),
                     device=ctx.device, breast_masker=ctx.breast_masker)


def _build_msssim(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    return MSSSIMDiversity(MSSSIMSettings(seed=ctx.seed, n_bootstrap=ctx.n_bootstrap), device=ctx.device)


def _build_msssim_breast(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    return MSSSIMDiversity(MSSSIMSettings(region="breast", seed=ctx.seed, n_bootstrap=ctx.n_bootstrap),
                           device=ctx.device, breast_masker=ctx.breast_masker)


def _masker_missing(ctx: BuildContext) -> str | None:
    return None if ctx.breast_masker is not None else NO_MASKER_REASON


def _build_features(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    space = specs[0].extractor
    assert space is not None
    outputs = tuple(s.output for s in specs if s.output)
    return FeatureMetric(ctx.extractors[space], space=space, outputs=outputs,
                         settings=FeatureSettings(seed=ctx.seed, n_bootstrap=ctx.n_bootstrap))


def _build_memorization(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    return MemorizationMetric(ctx.extractors["offline"], MemorizationSettings(seed=ctx.seed, n_bootstrap=ctx.n_bootstrap))


def _build_frd(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    return FRDMetric(FRDSettings(region="image", seed=ctx.seed, n_bootstrap=min(ctx.n_bootstrap, FRD_MAX_BOOTSTRAP)))


def _build_frd_breast(ctx: BuildContext, specs: tuple[MetricSpec, ...]) -> Metric:
    return FRDMetric(FRDSettings(region="breast", seed=ctx.seed, n_bootstrap=min(ctx.n_bootstrap, FRD_MAX_BOOTSTRAP)),
                     breast_masker=ctx.breast_masker)


def _radiomics_missing(ctx: BuildContext) -> str | None:
    return None if radiomics_version() is not None else f"PyRadiomics is not installed: {RADIOMICS_FIX}"


def _radiomics_or_masker_missing(ctx: BuildContext) -> str | None:
    return _radiomics_missing(ctx) or _masker_missing(ctx)


def _feature_spec(name: str, output: FeatureOutput, space: FeatureSpace, keys: Sequence[str],
                  direction: Direction, description: str) -> MetricSpec:
    spaced = [k if space == "inception" else offline_key(k) for k in keys]
    return MetricSpec(name, _build_features, tuple(KeySpec(k, direction, headline=True) for k in spaced),
                      description, extractor=space, group=f"features_{space}", output=output)


register(MetricSpec(
    "swd", _build_swd,
    (KeySpec(KEY_SWD_AVG, "min", SWD_DISPLAY_SCALE, headline=True),
     KeySpec(SWD_LEVEL_PREFIX, "min", SWD_DISPLAY_SCALE, levels=True)),
    "multi-scale sliced Wasserstein distance (raw; shown x1e3)"))
# MS-SSIM between random pairs: lower = more diverse.
register(MetricSpec(
    "msssim", _build_msssim,
    (KeySpec(KEY_MSSSIM_FAKE, "min", headline=True), KeySpec(KEY_MSSSIM_REAL, "min", headline=True),
     # the gap to the real images' diversity: the size of the gap matters (score.selection ranks |gap|)
     KeySpec(KEY_MSSSIM_GAP, "min", headline=True)),
    "MS-SSIM diversity of generated and real pairs (lower = more diverse)"))
register(_feature_spec("fid", "fid", "inception", (KEY_FID, KEY_FID_INF), "min",
                       "Fréchet Inception distance on equal-size sets, and FD-infinity where the sets allow"))
register(_feature_spec("kid", "kid", "inception", (KEY_KID,), "min", "kernel Inception distance"))
register(_feature_spec("prdc", "prdc", "inception", PRDC_KEYS, "max",
                       "precision, recall, density, coverage on Inception features"))
register(_feature_spec("fid_offline", "fid", "offline", (KEY_FID, KEY_FID_INF), "min",
                       "Fréchet distance in the offline feature space (not comparable with FID)"))
register(_feature_spec("kid_offline", "kid", "offline", (KEY_KID,), "min", "KID in the offline feature space"))
register(_feature_spec("prdc_offline", "prdc", "offline", PRDC_KEYS, "max",
                       "precision, recall, density, coverage in the offline feature space"))
# A larger nearest-training-image distance means fewer near copies.
register(MetricSpec(
    "memorization", _build_memorization,
    (KeySpec(KEY_MEMORIZATION_RATE, "min", headline=True), KeySpec(KEY_NN_DISTANCE_MEDIAN, "max", headline=True)),
    "nearest-training-image copy check (pixels and offline features)", extractor="offline"))
# Held-out AUC of a classifier telling generated from real: 0.5 = indistinguishable, 1 = always told apart.
register(MetricSpec(
    "c2st", lambda ctx, specs: C2STMetric(ctx.extractors["offline"], C2STSettings(seed=ctx.seed, n_bootstrap=ctx.n_bootstrap)),
    (KeySpec(KEY_C2ST_AUC, "min", headline=True),),
    "classifier two-sample test: held-out AUC of real vs generated (0.5 = indistinguishable)", extractor="offline"))

register_derived(KeySpec(KEY_ARTIFACT_RATE, "min"))
register_derived(KeySpec(KEY_ARTIFACT_RATE_REAL, "min"))
# Radiomics (PyRadiomics, ~0.3 CPU s per 320x256 image, ~6 s at 1280x1024): opt-in.
register(MetricSpec("frd", _build_frd, (KeySpec(KEY_FRD, "min", headline=True),),
                    "Fréchet Radiomics Distance v1, ln(d^2) (as frd-score computes it)", default=False,
                    unavailable_reason=_radiomics_missing))
# Breast-aware SWD and MS-SSIM (opt-in): the same numbers with the background and padding left out,
# for sets whose framing or padding differ (docs/metrics.md, "Breast-aware mode").
register(MetricSpec(
    "swd_breast", _build_swd_breast,
    (KeySpec(KEY_SWD_AVG_BREAST, "min", SWD_DISPLAY_SCALE, headline=True),
     KeySpec(SWD_BREAST_LEVEL_PREFIX, "min", SWD_DISPLAY_SCALE, levels=True)),
    "SWD with patch centres inside QA's breast mask (raw; shown x1e3)", default=False,
    unavailable_reason=_masker_missing))
register(MetricSpec(
    "msssim_breast", _build_msssim_breast,
    (KeySpec(KEY_MSSSIM_FAKE_BREAST, "min", headline=True), KeySpec(KEY_MSSSIM_REAL_BREAST, "min", headline=True),
     KeySpec(KEY_MSSSIM_GAP_BREAST, "min", headline=True)),
    "MS-SSIM diversity over each pair's breast masks (lower = more diverse)", default=False,
    unavailable_reason=_masker_missing))
register(MetricSpec("frd_breast", _build_frd_breast, (KeySpec(KEY_FRD_BREAST, "min", headline=True),),
                    "FRD over QA's breast mask (not comparable with published FRD)", default=False,
                    unavailable_reason=_radiomics_or_masker_missing))
