"""The metric interface: stream batches of real and generated images, then compute per-view results.

Every metric keeps its state per view internally (views come from the batch labels: 0 CC, 1 MLO,
-1 unknown), so the scorer streams each image set once and feeds every batch to every metric.
`compute()` returns ``{view: {key: MetricResult}}`` for the views ``"CC"``, ``"MLO"`` and ``"all"``
(unknown views count in "all" only); a view with too few images is left out and named in
`unavailable()`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

import torch

from mammoeval.core.seeding import Stream, torch_generator
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.uncertainty import FloorEstimate

ViewName = Literal["CC", "MLO", "all"]
VIEW_NAMES: Final[tuple[ViewName, ...]] = ("CC", "MLO", "all")
MIN_IMAGES_PER_VIEW: Final[int] = 2
"""A view needs at least this many real and generated images to be scored."""


@dataclass(frozen=True)
class MetricResult:
    """One headline number for one view.

    Attributes:
        value: the raw metric (SWD is NOT scaled by 1e3 here; scaling is a display convention).
        ci: (low, high) 95 % interval for the expected value of the statistic at these sample sizes
            (centred bootstrap, see uncertainty.py); it always contains `value`. None where none is computed.
        floor: the same metric between two disjoint real subsets of the generated set's size (mean
            over `floor_splits` random splits; what "as good as real data" looks like), or the
            real-set counterpart (MS-SSIM of real pairs); None where it has no meaning.
        n_real, n_fake: images of each set that entered the number.
        floor_sd: standard deviation of the floor over its splits (None without a split floor).
        floor_size: images in each real subset of the floor (the generated set's size, or fewer
            when the real set holds under twice as many; None without a split floor).
        floor_splits: splits the floor is averaged over (0 without a split floor).
        zero_floor: the statistic is unbiased, so the floor's expectation is 0 (KID): no ratio is
            reported; compare the value with the floor's spread instead.
        matched_value: the value recomputed on subsets of `floor_size` images of both sets (mean over
            draws), set when the value itself was computed at other sizes (the real set too small for
            a floor at the value's own size; FRD and C2ST, whose values use the full sets); the
            ratio then compares it, like with like, with the floor.
        log_value: the value is a logarithm (FRD = ln d^2): the ratio is exp(value - floor), the
            ratio of the distances themselves.
    """

    value: float
    ci: tuple[float, float] | None = None
    floor: float | None = None
    n_real: int = 0
    n_fake: int = 0
    floor_sd: float | None = None
    floor_size: int | None = None
    floor_splits: int = 0
    zero_floor: bool = False
    matched_value: float | None = None
    log_value: bool = False

    @property
    def ratio(self) -> float | None:
        """Return value / floor (1 = as good as real data; `matched_value` / floor when it is set), or None
        without a positive finite floor; exp(value - floor) for a `log_value`."""
        v = self.value if self.matched_value is None else self.matched_value
        if self.log_value:
            if self.floor is None or not math.isfinite(self.floor) or not math.isfinite(v):
                return None
            return math.exp(min(v - self.floor, 700.0))
        if self.zero_floor or self.floor is None or not math.isfinite(self.floor) or self.floor <= 0 or not math.isfinite(v):
            return None
        return v / self.floor

    def with_floor(self, floor: FloorEstimate | None) -> MetricResult:
        """Return a copy carrying a split floor's mean, spread, size and split count."""
        if floor is None:
            return self
        return dataclasses.replace(self, floor=floor.mean, floor_sd=floor.sd, floor_size=floor.size,
                                   floor_splits=floor.n_splits)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form ``{"value", "ci", "floor", "n_real", "n_fake", "ratio"}`` plus, for a split
        floor, ``"floor_sd"``, ``"floor_size"`` and ``"floor_splits"``, and ``"matched_value"`` when set."""
        out: dict[str, Any] = {
            "value": float(self.value),
            "ci": None if self.ci is None else [float(self.ci[0]), float(self.ci[1])],
            "floor": None if self.floor is None else float(self.floor),
            "n_real": int(self.n_real),
            "n_fake": int(self.n_fake),
            "ratio": self.ratio,
        }
        if self.floor_splits:
            out.update(floor_sd=self.floor_sd, floor_size=self.floor_size, floor_splits=self.floor_splits)
        if self.matched_value is not None:
            out["matched_value"] = float(self.matched_value)
        return out


ViewResults = dict[str, dict[str, MetricResult]]
"""view name -> metric key -> result."""


@runtime_checkable
class Metric(Protocol):
    """A streaming metric: `reset`, `update` with batches of either set, `compute`.

    The real side's state can be saved and restored (`real_state` / `load_real_state`) so that the
    reference set's statistics are computed once and reused across checkpoints (see cache.py).
    """

    name: str

    def reset(self) -> None:
        """Forget every image seen."""
        ...

    def update(self, batch: ImageBatch, *, real: bool) -> None:
        """Add a batch of real (`real=True`) or generated images."""
        ...

    def compute(self) -> ViewResults:
        """Return the results per view for the images seen so far."""
        ...

    def unavailable(self) -> dict[str, str]:
        """Return ``{"<metric>/<view>": reason}`` for views that could not be scored."""
        ...

    def settings(self) -> dict[str, Any]:
        """Return every setting that changes the real-side state (part of the cache key)."""
        ...

    def real_state(self) -> dict[str, Any]:
        """Return the real-side state as tensors, numbers and strings (for `save_torch_atomic`)."""
        ...

    def load_real_state(self, state: dict[str, Any]) -> None:
        """Restore the real-side state saved by `real_state`."""
        ...


def view_masks(views: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return boolean masks [N] for each view name: CC (label 0), MLO (label 1), all (every image)."""
    return {"CC": views == 0, "MLO": views == 1, "all": torch.ones_like(views, dtype=torch.bool)}


def too_few_reason(n_real: int, n_fake: int, minimum: int = MIN_IMAGES_PER_VIEW) -> str | None:
    """Return why a view cannot be scored (None when both sets have at least `minimum` images)."""
    if n_real < minimum or n_fake < minimum:
        return f"too few images in this view (real {n_real}, generated {n_fake}; need {minimum} of each)"
    return None


def sample_keys(seed: int, stream: Stream, first: int, n: int) -> torch.Tensor:
    """Return the float64 [n] `PrioritySample` keys of items first .. first + n - 1 of `stream`.

    Each key is the first uniform draw of its item's own generator, so a key does not depend on how
    the items were cut into batches.
    """
    return torch.tensor([float(torch.rand(1, dtype=torch.float64, generator=torch_generator(seed, stream, first + i)))
                         for i in range(n)], dtype=torch.float64)


class PrioritySample:
    """A seeded uniform sample of at most `cap` items, streamed in chunks without quadratic copying.

    Each item carries a random key (from its per-image generator); the sample is the `cap` items
    with the smallest keys (priority sampling), kept in arrival order, so it does not depend on how
    the stream was cut into batches. Chunks are only concatenated when the count exceeds
    ``cap + slack`` (slack = cap // 4), one field at a time, so memory stays below
    ``1.25 * cap`` items plus one field's transient copy.

    Fields are tensors whose first dimension indexes items (e.g. descriptors [n, P, D], views [n]).
    """

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"cap must be >= 1, got {cap}")
        self.cap = cap
        self.slack = max(cap // 4, 1)
        self.chunks: dict[str, list[torch.Tensor]] = {}
        self.keys: list[torch.Tensor] = []
        self.n_seen = 0

    def __len__(self) -> int:
        return min(sum(int(k.shape[0]) for k in self.keys), self.cap)

    def add(self, fields: dict[str, torch.Tensor], keys: torch.Tensor) -> None:
        """Add a chunk of items: every field [n, ...] and their float64 keys [n]."""
        for name, t in fields.items():
            self.chunks.setdefault(name, []).append(t)
        self.keys.append(keys.to(torch.float64))
        self.n_seen += int(keys.shape[0])
        if sum(int(k.shape[0]) for k in self.keys) > self.cap + self.slack:
            self._consolidate()

    def _consolidate(self) -> None:
        keys = torch.cat(self.keys) if self.keys else torch.empty(0, dtype=torch.float64)
        keep = torch.sort(torch.argsort(keys)[: self.cap]).values if keys.shape[0] > self.cap else None
        for name in list(self.chunks):
            whole = torch.cat(self.chunks[name])
            self.chunks[name] = [whole if keep is None else whole[keep]]  # one field at a time
        self.keys = [keys if keep is None else keys[keep]]

    def get(self, name: str) -> torch.Tensor:
        """Return field `name` of the sampled items [<= cap, ...] in arrival order."""
        if len(self.keys) != 1 or int(self.keys[0].shape[0]) > self.cap:
            self._consolidate()
        return self.chunks[name][0]

    def state(self) -> dict[str, Any]:
        """Return the sample as tensors (for the cache)."""
        if not self.keys:
            return {"fields": {}, "keys": torch.empty(0, dtype=torch.float64), "n_seen": 0, "cap": self.cap}
        return {"fields": {n: self.get(n) for n in self.chunks}, "keys": self.keys[0] if len(self.keys) == 1 else
                torch.cat(self.keys), "n_seen": self.n_seen, "cap": self.cap}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PrioritySample:
        """Return a sample restored from `state`."""
        s = cls(int(state["cap"]))
        if state["keys"].numel():
            s.chunks = {n: [t] for n, t in state["fields"].items()}
            s.keys = [state["keys"]]
        s.n_seen = int(state["n_seen"])
        return s


class SampledSets:
    """Bookkeeping shared by metrics that keep a bounded `PrioritySample` of each set.

    Subclasses set ``self._sets = {True: PrioritySample(...), False: PrioritySample(...)}`` (True = real)
    with a ``views`` field in every item.
    """

    _sets: dict[bool, PrioritySample]

    def real_state(self) -> dict[str, Any]:
        """Return the real set's kept items, keys and views (tensors), for the statistics cache."""
        return self._sets[True].state()

    def load_real_state(self, state: dict[str, Any]) -> None:
        """Restore the real set saved by `real_state`."""
        self._sets[True] = PrioritySample.from_state(state)

    def _count(self, real: bool, view: str) -> int:
        """Return how many kept images of one set belong to `view`."""
        st = self._sets[real]
        return int(view_masks(st.get("views"))[view].sum()) if len(st) else 0

    def _per_view(self, compute_one: Callable[[ViewName, int], dict[str, MetricResult] | None]) -> ViewResults:
        """Return ``{view: compute_one(view, index in VIEW_NAMES)}`` for the views it does not answer None.

        A view whose mask keeps every kept image of both sets (all images are CC, say) holds the same
        images as "all": it gets "all"'s results, computed once, so one set of images never reads as two
        different numbers. "all" is computed first; the result keeps the VIEW_NAMES order.
        """
        done: dict[str, dict[str, MetricResult] | None] = {"all": compute_one("all", VIEW_NAMES.index("all"))}
        for vi, v in enumerate(VIEW_NAMES):
            if v != "all":
                done[v] = done["all"] if self._holds_everything(v) else compute_one(v, vi)
        return {v: r for v in VIEW_NAMES if (r := done[v]) is not None}

    def _holds_everything(self, view: str) -> bool:
        """Return whether `view` keeps every kept image of both sets (and both sets hold some)."""
        sets = (self._sets[True], self._sets[False])
        return all(len(st) and bool(view_masks(st.get("views"))[view].all()) for st in sets)

    def _too_few(self, key: str, *, minimum: int = MIN_IMAGES_PER_VIEW) -> dict[str, str]:
        """Return ``{"<key>/<view>": reason}`` for the views that have too few images to score."""
        out = {}
        for v in VIEW_NAMES:
            nr, nf = self._count(True, v), self._count(False, v)
            reason = too_few_reason(nr, nf, minimum=minimum)
            if reason and (v == "all" or nr + nf > 0):
                out[f"{key}/{v}"] = reason
        return out
