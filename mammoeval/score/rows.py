"""Reading score rows (the scores.jsonl / scores.json contract): metric lookup and directions.

A score row is one JSON object per scored checkpoint or folder (see the README, "Score files").
Selection and the gate read numbers from rows only through `metric_of`, so the places a number
lives in a row are spelled once, here (directions and display scales: `mammoeval.metrics.registry`):

- a metric of the suite (`swd_avg`, `fid`, `msssim_fake`, ...): ``row["metrics"][view][key]``;
- `memorization_rate`: the suite's view entry when present, else ``row["memorization"]["rate"]``;
- `artifact_rate` / `artifact_rate_real`: the share of generated / real images with any QA
  artifact flag, ``row["qa"][view]["artifact_rate"]["any"]["fake" | "real"]``
  (`mammoeval.qa.scan.compare_scans`);
- `msssim_gap`: ``msssim_fake - msssim_real`` (> 0 means less diverse than the real set): the suite's
  own entry (its interval resamples both sets) when the row has one, else derived from the two
  (older rows; the interval then shifts the generated one's by the real value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from mammoeval.core.errors import BadInputError
from mammoeval.metrics.keys import (
    KEY_ARTIFACT_RATE,
    KEY_ARTIFACT_RATE_REAL,
    KEY_MEMORIZATION_RATE,
    KEY_MSSSIM_FAKE,
    KEY_MSSSIM_GAP,
    KEY_MSSSIM_REAL,
)
from mammoeval.metrics.registry import derived_keys
from mammoeval.score.schema import read_score_rows

DERIVED_KEYS: Final[tuple[str, ...]] = (*derived_keys(), KEY_MEMORIZATION_RATE, KEY_MSSSIM_GAP)
"""Keys `metric_of` computes from several places of a row (the registry's derived keys, and
`memorization_rate`, which falls back to ``row["memorization"]["rate"]``)."""


@dataclass(frozen=True)
class MetricValue:
    """One number of a score row.

    Attributes:
        value: the metric value (raw units: SWD is not scaled by 1e3).
        ci: (low, high) confidence interval, or None when the row has none.
    """

    value: float
    ci: tuple[float, float] | None = None

    def overlaps(self, other: MetricValue) -> bool:
        """Return True when the two values are indistinguishable: either lies in the other's interval."""
        a_lo, a_hi = self.ci if self.ci else (self.value, self.value)
        b_lo, b_hi = other.ci if other.ci else (other.value, other.value)
        return a_lo <= b_hi and b_lo <= a_hi


def metric_of(row: Mapping[str, Any], key: str, view: str = "all") -> MetricValue | None:
    """Return a metric of a score row, or None when the row does not have it (e.g. FID unavailable).

    Args:
        row: one score row.
        key: a suite metric key or one of `DERIVED_KEYS`.
        view: "CC", "MLO" or "all".
    """
    if key == KEY_MSSSIM_GAP:
        own = _suite_metric(row, key, view)
        if own is not None:
            return own
        fake, real = metric_of(row, KEY_MSSSIM_FAKE, view), metric_of(row, KEY_MSSSIM_REAL, view)
        if fake is None or real is None:
            return None
        ci = (fake.ci[0] - real.value, fake.ci[1] - real.value) if fake.ci else None
        return MetricValue(fake.value - real.value, ci)
    if key in (KEY_ARTIFACT_RATE, KEY_ARTIFACT_RATE_REAL):
        return _qa_rate(row, view, side="real" if key == KEY_ARTIFACT_RATE_REAL else "fake")
    found = _suite_metric(row, key, view)
    if found is None and key == KEY_MEMORIZATION_RATE:
        mem = row.get("memorization") or {}
        rate = mem.get("rate") if isinstance(mem, Mapping) else None
        return MetricValue(float(rate)) if isinstance(rate, (int, float)) else None
    return found


def _suite_metric(row: Mapping[str, Any], key: str, view: str) -> MetricValue | None:
    entry = ((row.get("metrics") or {}).get(view) or {}).get(key)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("value"), (int, float)):
        return None
    ci = entry.get("ci")
    interval = (float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
    return MetricValue(float(entry["value"]), interval)


def _qa_rate(row: Mapping[str, Any], view: str, *, side: Literal["real", "fake"]) -> MetricValue | None:
    """Any-artifact rate of one side: ``row["qa"][view]["artifact_rate"]["any"][side]`` (compare_scans)."""
    node: Any = row.get("qa")
    for key in (view, "artifact_rate", "any", side):
        node = node.get(key) if isinstance(node, Mapping) else None
    return MetricValue(float(node)) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def read_score_file(path: str | Path) -> list[dict[str, Any]]:
    """Return the rows of a scores.jsonl (one per line) or scores.json (one object or a list).

    Raises:
        BadInputError: missing, empty or malformed file, or a row that is not a valid score row
            (`mammoeval.score.schema`; the message names the file and the line).
    """
    p = Path(path)
    rows = read_score_rows(p)
    if not rows:
        raise BadInputError(p, "holds no score rows; run `mammoeval score` first")
    return rows
