"""Score a generated image set against a real one with every selected metric, streaming each set once.

Entry point for the CLI and the scorer: `compute_suite`. The real set's per-metric statistics
are loaded from `cache_dir` when present (see cache.py) and only the metrics that miss stream the
real set; the generated set is streamed once for all metrics. Inception weights absent: the
Inception metrics go to ``unavailable`` with the one-line fix; everything else is computed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from mammoeval.core.errors import BadInputError, MissingWeightsError
from mammoeval.core.fsutil import sha256_file
from mammoeval.core.progress import progress_bar
from mammoeval.data.imageset import ImageSet
from mammoeval.metrics.base import VIEW_NAMES, Metric, MetricResult
from mammoeval.metrics.cache import cache_key, cache_path, load_cached, save_cached
from mammoeval.metrics.features import FeatureExtractor, FeatureSpace, MemoExtractor
from mammoeval.metrics.inception import InceptionExtractor, find_inception_weights
from mammoeval.metrics.keys import KEY_SWD_AVG
from mammoeval.metrics.memorization import MemorizationMetric
from mammoeval.metrics.msssim import MSSSIMDiversity
from mammoeval.metrics.offline import OFFLINE_NAME, OfflineExtractor
from mammoeval.metrics.regions import BreastMasker
from mammoeval.metrics.registry import (
    BuildContext,
    MetricSpec,
    default_metrics,
    display_scale,
    list_metrics,
    resolve_metrics,
)
from mammoeval.metrics.swd import SWDMetric


@dataclass(frozen=True)
class SuiteResult:
    """Everything one scoring produced.

    Attributes:
        views: view ("CC", "MLO", "all") -> metric key -> result.
        unavailable: metric name or "<key>/<view>" -> one-line reason (and fix).
        settings: seed, metrics, sizes, extractor names and hashes.
        memorization: ``{"pairs": [{"fake_id", "train_id", "distance", "space", "view"}, ...],
            "train": "real" | set name, "held_out": "leave-one-out" | "all real"}``.
    """

    views: dict[str, dict[str, MetricResult]]
    unavailable: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    memorization: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form (see the README "Score JSON" contract)."""
        return {
            "views": {v: {k: r.to_json() for k, r in sorted(res.items())} for v, res in self.views.items()},
            "unavailable": dict(sorted(self.unavailable.items())),
            "settings": self.settings,
            "memorization": self.memorization,
        }

    def value(self, key: str, view: str = "all") -> float | None:
        """Return one number, or None when it was not computed."""
        r = self.views.get(view, {}).get(key)
        return None if r is None else r.value


@dataclass(frozen=True)
class ExtractorSpec:
    """How to rebuild one feature extractor elsewhere (e.g. on another torchrun rank), picklable.

    Attributes:
        space: "offline" (no weights) or "inception".
        weights: the Inception weights file (None for offline).
        weights_hash: the extractor's `weights_hash` (the file's SHA-256 for Inception); a rebuilt
            extractor must report the same ("" = not checked: the extractor hashes the file itself).
    """

    space: FeatureSpace
    weights: str | None = None
    weights_hash: str = ""


def suite_extractor_specs(metrics: Sequence[str], *, inception_weights: Path | None = None) -> tuple[ExtractorSpec, ...]:
    """Return the feature extractors `compute_suite(metrics=...)` feeds images to, in the order it builds them.

    The offline extractor serves the offline feature metrics and memorization; Inception is listed
    only when its weights are found (else the suite reports it unavailable).

    Raises:
        ConfigError: unknown metric name.
        BadInputError: an explicitly given Inception weights file does not exist.
    """
    return _plan_extractors(resolve_metrics(tuple(metrics)), inception_weights, hash_weights=True)[0]


def _plan_extractors(specs: Sequence[MetricSpec], inception_weights: Path | None, *,
                     hash_weights: bool) -> tuple[tuple[ExtractorSpec, ...], str | None]:
    """Return the extractors `specs` need and, when Inception is needed but its weights are absent, the fix.

    The one place that decides which extractors a suite uses (`_build` on rank 0 and, through
    `suite_extractor_specs`, the other torchrun ranks). `hash_weights` False leaves the Inception
    spec's hash empty (the extractor built from it hashes the file itself).
    """
    out: list[ExtractorSpec] = []
    if any(s.extractor == "offline" for s in specs):
        out.append(ExtractorSpec("offline", None, OFFLINE_NAME))
    if any(s.extractor == "inception" for s in specs):
        try:
            path = find_inception_weights(inception_weights)
        except MissingWeightsError as e:
            return tuple(out), e.fix
        out.append(ExtractorSpec("inception", str(path), sha256_file(path) if hash_weights else ""))
    return tuple(out), None


def build_extractor(spec: ExtractorSpec, *, device: str | torch.device = "cpu") -> FeatureExtractor:
    """Return the extractor `spec` describes, on `device`.

    Raises:
        BadInputError: the Inception weights file is unusable or its hash differs from the spec's.
    """
    if spec.space == "offline":
        return OfflineExtractor(device=device)
    extractor = InceptionExtractor(Path(str(spec.weights)), device=device)
    if spec.weights_hash and extractor.weights_hash != spec.weights_hash:
        raise BadInputError(Path(str(spec.weights)), f"SHA-256 {extractor.weights_hash[:8]}... differs from "
                                                     f"rank 0's {spec.weights_hash[:8]}...: same weights needed on every rank")
    return extractor


def _build(specs: Sequence[MetricSpec], *, seed: int, n_bootstrap: int, device: str | torch.device,
           inception_weights: Path | None, unavailable: dict[str, str],
           breast_masker: BreastMasker | None = None) -> tuple[list[Metric], MemorizationMetric | None]:
    """Return the metric objects for `specs` (one per registry group, in registration order) and the memorization metric.

    A group whose feature extractor is missing (Inception weights absent) is left out; its metrics
    go to `unavailable` with the one-line fix.
    """
    planned, missing_fix = _plan_extractors(specs, inception_weights, hash_weights=False)
    extractors: dict[FeatureSpace, FeatureExtractor] = {
        e.space: MemoExtractor(build_extractor(e, device=device)) for e in planned}
    if missing_fix is not None:
        unavailable.update({s.name: missing_fix for s in specs if s.extractor == "inception"})
    ctx = BuildContext(seed=seed, n_bootstrap=n_bootstrap, device=device, extractors=extractors,
                       breast_masker=breast_masker)
    groups: dict[str, list[MetricSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group_name, []).append(spec)
    rank = {name: i for i, name in enumerate(list_metrics())}
    metrics: list[Metric] = []
    for group in sorted(groups.values(), key=lambda g: min(rank[s.name] for s in g)):
        if any(s.extractor is not None and s.extractor not in extractors for s in group):
            continue
        reasons = {s.name: r for s in group if s.unavailable_reason and (r := s.unavailable_reason(ctx))}
        if reasons:
            unavailable.update(reasons)
            continue
        metrics.append(group[0].factory(ctx, tuple(group)))
    memo = next((m for m in metrics if isinstance(m, MemorizationMetric)), None)
    return metrics, memo


def _stream(images: ImageSet, metrics: Iterable[Metric], *, real: bool | None, batch_size: int,
            progress: bool, label: str) -> None:
    """Feed every batch of `images` to every metric (real=None: the memorization training set)."""
    metrics = list(metrics)
    if not metrics:
        return
    # Features another rank computed for a batch (ImageBatch.precomputed) replace extraction.
    memos = list({id(x): x for m in metrics if isinstance(x := getattr(m, "extractor", None), MemoExtractor)}.values())
    with progress_bar(label, total=len(images), enabled=progress, transient=True) as bar:
        for batch in images.iter_batches(batch_size):
            for x in memos:
                x.prime(batch)
            for m in metrics:
                if real is None:
                    assert isinstance(m, MemorizationMetric)
                    m.update_train(batch)
                else:
                    m.update(batch, real=real)
            bar.advance(batch.images.shape[0])


def _load_or_stream_real(real: ImageSet, metrics: list[Metric], *, cache_dir: Path | None, batch_size: int,
                         progress: bool, skip_cache: set[str]) -> dict[str, str]:
    """Restore cached real states, stream the real set into the metrics that missed; return metric -> cache status."""
    status: dict[str, str] = {}
    missing: list[Metric] = []
    paths: dict[str, Path] = {}
    for m in metrics:
        if cache_dir is None or m.name in skip_cache:
            missing.append(m)
            status[m.name] = "off"
            continue
        paths[m.name] = cache_path(cache_dir, real.name, m.name, cache_key(real.content_hash, m.name, m.settings()))
        state = load_cached(paths[m.name])
        if state is None:
            missing.append(m)
            status[m.name] = "miss"
        else:
            m.load_real_state(state)
            status[m.name] = "hit"
    _stream(real, missing, real=True, batch_size=batch_size, progress=progress, label=f"real {real.name}")
    for m in missing:
        if m.name in paths:
            save_cached(paths[m.name], m.real_state())
    return status


def compute_suite(real: ImageSet, fake: ImageSet, *, metrics: Sequence[str] | None = None, seed: int = 0,
                  cache_dir: Path | None = None, inception_weights: Path | None = None,
                  device: str | torch.device = "cpu", batch_size: int = 16, n_bootstrap: int = 200,
                  train: ImageSet | None = None, progress: bool = True,
                  breast_masker: BreastMasker | None = None) -> SuiteResult:
    """Return every selected metric of `fake` against `real`, per view, with intervals and floors.

    Args:
        real: the reference set (the run's real dataset).
        fake: the generated set (any generator).
        metrics: registry names (see registry.py); None = the default suite; unknown names raise ConfigError.
        seed: seeds every random choice (patches, directions, pairs, splits, bootstrap).
        cache_dir: where real-set statistics are cached by content hash; None = no cache.
        inception_weights: explicit FID Inception weights file (else env var / torch hub cache).
        device: where images are processed.
        batch_size: images per streamed batch.
        n_bootstrap: bootstrap replicates for intervals (0 = none).
        train: the generator's training set for the memorization search; None = `real`
            (held-out reals are then leave-one-out, see memorization.py).
        progress: show rich progress bars.
        breast_masker: QA's breast-mask function (`mammoeval.qa.breast_mask.compute_breast_mask`)
            for breast-aware metrics; None = those metrics are unavailable.

    Raises:
        ConfigError: unknown metric name.
        BadInputError: an image or weights file is unusable, or the sets differ in image size.
    """
    specs = resolve_metrics(tuple(default_metrics() if metrics is None else metrics))
    if real.size != fake.size:
        raise BadInputError(Path(fake.name), f"generated images are {fake.size[0]}x{fake.size[1]} but real images "
                                             f"are {real.size[0]}x{real.size[1]}; score sets of one size")
    unavailable: dict[str, str] = {}
    objs, memo = _build(specs, seed=seed, n_bootstrap=n_bootstrap, device=device,
                        inception_weights=inception_weights, unavailable=unavailable, breast_masker=breast_masker)
    skip = {"memorization"} if train is not None else set()
    cache_status = _load_or_stream_real(real, objs, cache_dir=cache_dir, batch_size=batch_size, progress=progress,
                                        skip_cache=skip)
    if train is not None and memo is not None:
        _stream(train, [memo], real=None, batch_size=batch_size, progress=progress, label=f"train {train.name}")
    _stream(fake, objs, real=False, batch_size=batch_size, progress=progress, label=f"generated {fake.name}")
    views: dict[str, dict[str, MetricResult]] = {}
    for m in objs:
        for v, res in m.compute().items():
            views.setdefault(v, {}).update(res)
        unavailable.update(m.unavailable())
    views = {v: views[v] for v in VIEW_NAMES if v in views}
    _drop_non_finite(views, unavailable)
    settings = _settings(real, fake, specs, objs, seed, n_bootstrap, cache_status)
    settings["notes"] = floor_notes(views)
    _print_notes(settings["notes"], unavailable)
    return SuiteResult(views=views, unavailable=unavailable, settings=settings, memorization=_memo_json(memo, train))


def _drop_non_finite(views: dict[str, dict[str, MetricResult]], unavailable: dict[str, str]) -> None:
    """Move every result whose value is not finite into `unavailable` (never a silent NaN in a row)."""
    for v, res in views.items():
        for key in [k for k, r in res.items() if not math.isfinite(r.value)]:
            unavailable[f"{key}/{v}"] = f"not finite ({res.pop(key).value}) for this view's images"


def floor_notes(views: dict[str, dict[str, MetricResult]]) -> list[str]:
    """Return at most one line: the views whose matched floors had to use fewer real images than they compare.

    A floor compares two disjoint real subsets of the generated set's size; a real set holding fewer
    than twice as many gives the largest equal size instead (recorded as `floor_size` in each result).
    """
    parts = []
    for v, res in views.items():
        short = [r for r in res.values() if r.floor_splits and r.floor_size is not None
                 and r.floor_size < min(r.n_fake, r.n_real)]
        if short:
            r = short[0]
            parts.append(f"{v} 2 x {r.floor_size} of {r.n_real} real for {min(r.n_fake, r.n_real)} generated")
    if not parts:
        return []
    return ["real-vs-real floors use fewer real images than the generated set they are compared with ("
            + "; ".join(parts) + "): the real set holds under twice as many, so those floors are pessimistic"]


def _print_notes(notes: list[str], unavailable: dict[str, str]) -> None:
    """Print each floor note and each reason a metric is unavailable once, one line each, on stderr."""
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    for note in notes:
        console.print(f"warning: {note}", markup=False)
    by_reason: dict[str, list[str]] = {}
    for key, why in unavailable.items():
        by_reason.setdefault(str(why), []).append(key)
    for why, keys in by_reason.items():
        console.print(f"not computed: {', '.join(keys)}: {why}", markup=False)


def _settings(real: ImageSet, fake: ImageSet, specs: Sequence[MetricSpec], objs: list[Metric], seed: int,
              n_bootstrap: int, cache_status: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metrics": [s.name for s in specs], "seed": seed, "n_bootstrap": n_bootstrap,
        "real": {"name": real.name, "n": len(real), "size": list(real.size), "content_hash": real.content_hash},
        "fake": {"name": fake.name, "n": len(fake), "size": list(fake.size), "content_hash": fake.content_hash},
        "swd_display_scale": display_scale(KEY_SWD_AVG), "cache": cache_status,
    }
    for m in objs:
        s = m.settings()
        if isinstance(m, (SWDMetric, MSSSIMDiversity)):
            s = dataclasses.asdict(m.cfg)
        out[m.name] = s
    return out


def _memo_json(memo: MemorizationMetric | None, train: ImageSet | None) -> dict[str, Any]:
    if memo is None:
        return {}
    pairs = [dict(p, view=v) for v, ps in memo.pairs().items() for p in ps]
    return {"pairs": pairs, "train": "real" if train is None else train.name,
            "held_out": "leave-one-out" if train is None else "all real"}


