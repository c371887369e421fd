"""Checkpoint selection: score rows -> the best checkpoint, the rule and the evidence (best.json).

Rules (`--select`):

- ``swd`` (default, as in Korkinof et al. 2018): the lowest average multi-scale SWD (`swd_avg`).
- any metric key of the rows (`fid`, `kid`, `recall`, `msssim_fake`, `artifact_rate`,
  `memorization_rate`, ...): the best value in that metric's direction (`mammoeval.metrics.registry.direction_of`).
- ``composite``: for each of `COMPOSITE_METRICS` that every candidate has, each checkpoint is
  ranked 1 + the number of checkpoints that beat it *outside* both confidence intervals (so
  differences inside the intervals are ties); the composite is the mean rank, lowest wins, and
  ties go to the lower `swd_avg`. Diversity enters as the size of the gap to the real images,
  |`msssim_gap`| = |MS-SSIM generated - MS-SSIM real|: MS-SSIM of the generated set alone
  would reward noise (noisy images are dissimilar to one another, so their MS-SSIM is low), while
  a generator as diverse as the real data has a gap near 0 from either side.

Only checkpoints at the highest resolution present in the rows are compared (SWD levels and
every other number differ across resolutions); that is the run's final resolution once it has
been reached. Pass ``all_resolutions=True`` to compare across resolutions anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mammoeval.core.errors import ConfigError
from mammoeval.metrics.keys import KEY_ARTIFACT_RATE, KEY_FID, KEY_MSSSIM_GAP, KEY_SWD_AVG
from mammoeval.metrics.registry import direction_of
from mammoeval.score.rows import DERIVED_KEYS, MetricValue, metric_of

DEFAULT_RULE: Final = "swd"
COMPOSITE_RULE: Final = "composite"
COMPOSITE_METRICS: Final[tuple[str, ...]] = (KEY_SWD_AVG, KEY_FID, KEY_ARTIFACT_RATE, KEY_MSSSIM_GAP)
"""Metrics ranked by the composite rule (each used only when every candidate has it)."""
ABSOLUTE_METRICS: Final[frozenset[str]] = frozenset({KEY_MSSSIM_GAP})
"""Composite metrics ranked by their distance from 0 (a gap to the real data in either direction is worse)."""


@dataclass(frozen=True)
class _Candidate:
    row: Mapping[str, Any]
    value: MetricValue


def rule_metric(rule: str) -> str:
    """Return the metric key a single-metric rule ranks by ("swd" -> "swd_avg")."""
    return KEY_SWD_AVG if rule == DEFAULT_RULE else rule


def select_checkpoint(rows: Sequence[Mapping[str, Any]], *, rule: str = DEFAULT_RULE, view: str = "all",
                      all_resolutions: bool = False) -> dict[str, Any]:
    """Return the best.json object: the chosen checkpoint, the rule, its value and the evidence.

    Args:
        rows: score rows (scores.jsonl); a checkpoint scored twice counts with its last row.
        rule: "swd", "composite" or a metric key (see the module docstring).
        view: "all", "CC" or "MLO": which view's numbers decide.
        all_resolutions: compare checkpoints across resolutions (default: highest only).

    Raises:
        ConfigError: no rows, an unknown rule, or no candidate has the rule's metric.
    """
    latest = {str(r["checkpoint"]): r for r in rows}
    if not latest:
        raise ConfigError("no scored checkpoints to select from; run `mammoeval score RUN` first")
    pool = list(latest.values()) if all_resolutions else _at_highest_resolution(list(latest.values()))
    if rule == COMPOSITE_RULE:
        return _select_composite(pool, view)
    _check_rule(rule, pool)
    return _select_single(pool, rule_metric(rule), rule, view)


def _at_highest_resolution(rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    def pixels(r: Mapping[str, Any]) -> int:
        res = r.get("resolution") or [0, 0]
        return int(res[0]) * int(res[1])

    top = max(pixels(r) for r in rows)
    return [r for r in rows if pixels(r) == top]


def _check_rule(rule: str, rows: Sequence[Mapping[str, Any]]) -> None:
    known = {DEFAULT_RULE, COMPOSITE_RULE, *DERIVED_KEYS}
    for r in rows:
        known.update(r.get("unavailable") or {})
        for view_metrics in (r.get("metrics") or {}).values():
            known.update(view_metrics or {})
    if rule not in known:
        raise ConfigError(f"unknown selection rule {rule!r}; valid: {', '.join(sorted(known))}")


def _candidates(rows: Sequence[Mapping[str, Any]], key: str, view: str) -> list[_Candidate]:
    found = [(r, metric_of(r, key, view)) for r in rows]
    return [_Candidate(r, v) for r, v in found if v is not None]


def _evidence_entry(c: _Candidate, rank: int, tied: bool) -> dict[str, Any]:
    return {"checkpoint": c.row["checkpoint"], "kimg": c.row.get("kimg"), "value": c.value.value,
            "ci": list(c.value.ci) if c.value.ci else None, "rank": rank, "tied_with_best": tied}


def _best_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"checkpoint": row["checkpoint"], "n_images_shown": row.get("n_images_shown"),
            "kimg": row.get("kimg"), "resolution": row.get("resolution")}


def _select_single(rows: Sequence[Mapping[str, Any]], key: str, rule: str, view: str) -> dict[str, Any]:
    cands = _candidates(rows, key, view)
    if not cands:
        reason = next((str(r["unavailable"][key]) for r in rows if key in (r.get("unavailable") or {})), "")
        raise ConfigError(f"no scored checkpoint has {key} for view {view}"
                          + (f" ({reason})" if reason else "") + "; choose another --select rule")
    sign = 1.0 if direction_of(key) == "min" else -1.0
    # Stable sort: equal values keep training order, so the earlier checkpoint wins a exact tie.
    ordered = sorted(cands, key=lambda c: sign * c.value.value)
    best = ordered[0]
    evidence = [_evidence_entry(c, i + 1, c is best or c.value.overlaps(best.value))
                for i, c in enumerate(ordered)]
    n_tied = sum(e["tied_with_best"] for e in evidence) - 1
    word = "lowest" if sign > 0 else "highest"
    tied_names = ", ".join(e["checkpoint"] for e in evidence[1:] if e["tied_with_best"])
    explanation = (f"{word} {key} ({view} views) among {len(cands)} checkpoints at "
                   f"{_res_text(best.row)}; {n_tied} other checkpoint(s) within the confidence interval "
                   f"of the best" + (f": {tied_names}" if tied_names else ""))
    skipped = len(rows) - len(cands)
    if skipped:
        explanation += f"; {skipped} checkpoint(s) without {key} were not compared"
    return {**_best_fields(best.row), "rule": rule, "metric": key, "view": view,
            "direction": direction_of(key), "value": best.value.value, "evidence": evidence,
            "explanation": explanation}


def _ci_rank(values: Sequence[MetricValue], i: int, direction: str) -> int:
    """1 + the number of values that beat value i with non-overlapping confidence intervals."""
    sign = 1.0 if direction == "min" else -1.0
    mine = values[i]
    return 1 + sum(1 for j, v in enumerate(values)
                   if j != i and sign * v.value < sign * mine.value and not v.overlaps(mine))


def _magnitude(v: MetricValue | None) -> MetricValue | None:
    """Return |v| with the interval of |x| for x in v's interval (it holds 0 when v's interval straddles 0)."""
    if v is None:
        return None
    if v.ci is None:
        return MetricValue(abs(v.value))
    lo, hi = v.ci
    low = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
    return MetricValue(abs(v.value), (low, max(abs(lo), abs(hi))))


def _composite_value(row: Mapping[str, Any], key: str, view: str) -> MetricValue | None:
    v = metric_of(row, key, view)
    return _magnitude(v) if key in ABSOLUTE_METRICS else v


def _select_composite(rows: Sequence[Mapping[str, Any]], view: str) -> dict[str, Any]:
    used: dict[str, list[MetricValue]] = {}
    for key in COMPOSITE_METRICS:
        vals = [_composite_value(r, key, view) for r in rows]
        if all(v is not None for v in vals):
            used[key] = [v for v in vals if v is not None]
    if not used:
        raise ConfigError(f"composite selection needs one of {', '.join(COMPOSITE_METRICS)} for every checkpoint")
    ranks = [{k: _ci_rank(vs, i, direction_of(k)) for k, vs in used.items()} for i in range(len(rows))]
    scores = [sum(r.values()) / len(r) for r in ranks]
    primary = next(iter(used))

    def order_key(i: int) -> tuple[float, float]:
        v = used[primary][i].value
        return scores[i], v if direction_of(primary) == "min" else -v

    order = sorted(range(len(rows)), key=order_key)
    best = order[0]
    evidence = []
    for pos, i in enumerate(order):
        entry = _evidence_entry(_Candidate(rows[i], MetricValue(scores[i])), pos + 1, scores[i] == scores[best])
        entry["ranks"] = ranks[i]
        entry["metrics"] = {k: used[k][i].value for k in used}
        evidence.append(entry)
    missing = [k for k in COMPOSITE_METRICS if k not in used]
    names = [f"|{k}|" if k in ABSOLUTE_METRICS else k for k in used]
    explanation = (f"lowest mean rank over {', '.join(names)} ({view} views; differences inside the confidence "
                   f"intervals are ties) among {len(rows)} checkpoints at {_res_text(rows[best])}; ties broken "
                   f"by {primary}")
    if missing:
        explanation += f"; not used (missing for some checkpoint): {', '.join(missing)}"
    return {**_best_fields(rows[best]), "rule": COMPOSITE_RULE, "metric": "mean_rank", "view": view,
            "direction": "min", "value": scores[best], "metrics_used": list(used), "evidence": evidence,
            "explanation": explanation}


def _res_text(row: Mapping[str, Any]) -> str:
    res = row.get("resolution")
    return f"{res[0]}x{res[1]}" if res else "unknown resolution"
