"""The validated shape of a score row: one check that every reader (score, selection, gate, report) uses.

`ScoreRow.from_json` checks the type of every field it knows and rejects a row in one line that
says which field is wrong, so a row that is valid JSON but holds ``"metrics": "oops"`` never
reaches code that indexes into it. `read_score_rows` reads a scores.jsonl or scores.json and names
the file and the line (or list index) of the first bad row. Unknown extra fields are kept: newer
writers may add fields that older readers ignore.

Required: ``checkpoint`` (text) and ``metrics`` (view -> metric key -> entry, where an entry is an
object whose ``value`` is a number or null and whose ``ci`` is null or two numbers). Optional,
checked when present and not null: ``n_images_shown``, ``kimg`` (numbers), ``resolution`` (two
positive integers), ``n_per_view`` (an integer or view -> integer), ``seed`` (integer),
``unavailable`` (metric -> reason text), ``memorization``, ``qa``, ``timing``, ``settings`` and
``versions`` (objects; ``settings.settings_hash`` text; ``memorization.rate`` a number and
``memorization.pairs`` objects with text ids, a number ``distance`` and a boolean ``flagged``),
``checkpoint_sha256`` and ``scored_at`` (text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mammoeval.core.errors import BadInputError
from mammoeval.core.filekind import check_regular_file
from mammoeval.core.fsutil import read_json
from mammoeval.core.jsonl import read_jsonl_numbered


class RowError(ValueError):
    """A score row has a field of the wrong type; `str()` names the field."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number" if _is_number(v) else type(v).__name__)


def _need(cond: bool, name: str, expected: str, got: Any) -> None:
    if not cond:
        raise RowError(f'"{name}" must be {expected}, got {_kind(got)}')


@dataclass(frozen=True)
class MetricEntry:
    """One metric of one view: the value and its interval (other keys are kept in the row)."""

    value: float | None
    ci: tuple[float, float] | None = None

    @classmethod
    def from_json(cls, obj: Any, *, name: str) -> MetricEntry:
        """Return the entry, or raise `RowError` naming `name` (``metrics.all.swd_avg``)."""
        _need(isinstance(obj, Mapping), name, "an object with a \"value\"", obj)
        value = obj.get("value")
        _need(value is None or _is_number(value), f"{name}.value", "a number or null", value)
        ci = obj.get("ci")
        ok_ci = ci is None or (isinstance(ci, list) and len(ci) == 2 and all(_is_number(c) for c in ci))
        _need(ok_ci, f"{name}.ci", "null or a list of two numbers", ci)
        return cls(value=None if value is None else float(value),
                   ci=None if ci is None else (float(ci[0]), float(ci[1])))


@dataclass(frozen=True)
class ScoreRow:
    """A checked score row; `raw` is the row as read (what `mammoeval.score.rows.metric_of` reads).

    Attributes:
        checkpoint: checkpoint file name, or ``folder:<name>`` in folder mode.
        metrics: view -> metric key -> entry.
        resolution: (height, width) of the generated images, None when the row does not say.
        n_images_shown: training images shown at the checkpoint (None in folder mode).
        settings_hash: the hash keying the row (`ScoreSettings.settings_hash`), "" when absent.
        raw: the JSON object itself.
    """

    checkpoint: str
    metrics: dict[str, dict[str, MetricEntry]]
    resolution: tuple[int, int] | None = None
    n_images_shown: float | None = None
    settings_hash: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Any) -> ScoreRow:
        """Return the checked row.

        Raises:
            RowError: not an object, no "checkpoint" or "metrics", or a field of the wrong type.
        """
        if not isinstance(obj, dict):
            raise RowError(f"is not a score row (a JSON object), got {_kind(obj)}")
        if "checkpoint" not in obj or "metrics" not in obj:
            missing = [k for k in ("checkpoint", "metrics") if k not in obj]
            raise RowError(f"is not a score row (no {' or '.join(repr(k) for k in missing)} key)")
        _need(isinstance(obj["checkpoint"], str) and obj["checkpoint"] != "", "checkpoint", "non-empty text",
              obj["checkpoint"])
        metrics = _metrics(obj["metrics"])
        _check_optional(obj)
        res = obj.get("resolution")
        settings = obj.get("settings") or {}
        n = obj.get("n_images_shown")
        return cls(checkpoint=obj["checkpoint"], metrics=metrics,
                   resolution=None if res is None else (int(res[0]), int(res[1])),
                   n_images_shown=None if n is None else float(n),
                   settings_hash=str(settings.get("settings_hash") or ""), raw=obj)


def _metrics(obj: Any) -> dict[str, dict[str, MetricEntry]]:
    _need(isinstance(obj, dict), "metrics", "an object (view -> metric -> entry)", obj)
    out: dict[str, dict[str, MetricEntry]] = {}
    for view, entries in obj.items():
        _need(isinstance(entries, dict), f"metrics.{view}", "an object (metric -> entry)", entries)
        out[view] = {k: MetricEntry.from_json(v, name=f"metrics.{view}.{k}") for k, v in entries.items()}
    return out


_OBJECT_FIELDS = ("memorization", "qa", "timing", "settings", "versions")
_TEXT_FIELDS = ("checkpoint_sha256", "scored_at")


def _check_optional(obj: dict[str, Any]) -> None:
    for name in ("n_images_shown", "kimg"):
        v = obj.get(name)
        _need(v is None or _is_number(v), name, "a number or null", v)
    res = obj.get("resolution")
    ok_res = res is None or (isinstance(res, list) and len(res) == 2 and all(_is_int(x) and x > 0 for x in res))
    _need(ok_res, "resolution", "[height, width] (two positive integers) or null", res)
    npv = obj.get("n_per_view")
    ok_npv = npv is None or _is_int(npv) or (isinstance(npv, dict) and all(_is_int(x) for x in npv.values()))
    _need(ok_npv, "n_per_view", "an integer or an object of integers", npv)
    seed = obj.get("seed")
    _need(seed is None or _is_int(seed), "seed", "an integer", seed)
    unavailable = obj.get("unavailable")
    ok_un = unavailable is None or (isinstance(unavailable, dict) and all(isinstance(v, str)
                                                                        for v in unavailable.values()))
    _need(ok_un, "unavailable", "an object of reason texts", unavailable)
    for name in _OBJECT_FIELDS:
        v = obj.get(name)
        _need(v is None or isinstance(v, dict), name, "an object or null", v)
    mem = obj.get("memorization") or {}
    pairs = mem.get("pairs")
    _need(pairs is None or (isinstance(pairs, list) and all(isinstance(p, dict) for p in pairs)),
          "memorization.pairs", "a list of objects", pairs)
    for i, pair in enumerate(pairs or []):
        _check_pair(pair, f"memorization.pairs[{i}]")
    rate = mem.get("rate")
    _need(rate is None or _is_number(rate), "memorization.rate", "a number or null", rate)
    digest = (obj.get("settings") or {}).get("settings_hash")
    _need(digest is None or isinstance(digest, str), "settings.settings_hash", "text", digest)
    for name in _TEXT_FIELDS:
        v = obj.get(name)
        _need(v is None or isinstance(v, str), name, "text", v)


def _check_pair(pair: dict[str, Any], name: str) -> None:
    for key in ("fake_id", "train_id", "space"):
        v = pair.get(key)
        _need(v is None or isinstance(v, str), f"{name}.{key}", "text", v)
    d = pair.get("distance")
    _need("distance" not in pair or _is_number(d), f"{name}.distance", "a number", d)
    flagged = pair.get("flagged")
    _need(flagged is None or isinstance(flagged, bool), f"{name}.flagged", "true or false", flagged)
    view = pair.get("view")
    _need(view is None or isinstance(view, str) or _is_int(view), f"{name}.view", "text or a view label", view)


def check_score_row(path: str | Path, where: str, obj: Any) -> ScoreRow:
    """Return the checked row, or raise `BadInputError` naming the file and `where` (e.g. "line 3").

    Raises:
        BadInputError: the row is not a valid score row (see `ScoreRow.from_json`).
    """
    try:
        return ScoreRow.from_json(obj)
    except RowError as e:
        text = str(e)
        raise BadInputError(path, f"{where} {text}" if text.startswith("is ") else f"{where}: {text}") from None


def read_score_rows(path: str | Path, *, missing_ok: bool = False) -> list[dict[str, Any]]:
    """Return the checked rows of a scores.jsonl (one per line) or a .json file (one row or a list).

    Args:
        path: the score file.
        missing_ok: return [] for an absent file instead of raising.

    Raises:
        BadInputError: missing file, not a regular file, unreadable or invalid JSON, or a row that is
            not a valid score row (the message names the file and the line or list index).
    """
    p = Path(path)
    if missing_ok and not p.exists() and not p.is_symlink():
        return []
    if not p.exists() and not p.is_symlink():
        raise BadInputError(p, "no such score file")
    check_regular_file(p)
    if p.suffix == ".jsonl":
        numbered: list[tuple[str, Any]] = [(f"line {n}", r) for n, r in read_jsonl_numbered(p)]
    else:
        obj = read_json(p)
        numbered = [(f"row {i + 1}", r) for i, r in enumerate(obj if isinstance(obj, list) else [obj])]
    for where, r in numbered:
        check_score_row(p, where, r)
    return [r for _, r in numbered]
