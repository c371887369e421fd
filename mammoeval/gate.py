"""Quality gate: one score row vs a baseline row and absolute limits -> verdict and exit code.

Rules come from a TOML file (`gate_rules.toml` in the package is the documented default); each
rule checks one number of the row (`mammoeval.score.rows.metric_of`). The verdict is written as
JSON (default `gate.json` next to the scores) and its `exit_code` is 0 (pass) or 1 (regression);
bad input raises `MammoevalError` (exit 2 in the CLI).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import read_json, write_json_atomic
from mammoeval.core.rundir import BEST_FILE, GATE_FILE, SCORES_FILE
from mammoeval.metrics.registry import find_key_spec, known_keys
from mammoeval.score.rows import MetricValue, metric_of, read_score_file

# tomllib is in the standard library from Python 3.11; tomli is its backport for 3.10
if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Check = Literal["max", "min", "max_rise", "max_drop", "max_increase", "max_decrease"]
CHECKS: Final[tuple[str, ...]] = get_args(Check)
BASELINE_CHECKS: Final = frozenset({"max_rise", "max_drop", "max_increase", "max_decrease"})
DEFAULT_RULES: Final = Path(__file__).with_name("gate_rules.toml")
EXIT_PASS: Final = 0
EXIT_REGRESSION: Final = 1


@dataclass(frozen=True)
class GateRule:
    """One gate rule (a [[rule]] table of the rules TOML).

    Attributes:
        name: unique rule name, printed when it fails.
        metric: metric key of the score row (see `mammoeval.score.rows`).
        check: how value, baseline and limit compare (see gate_rules.toml).
        limit: absolute limit ("max"/"min"), fraction ("max_rise"/"max_drop") or metric units
            ("max_increase"/"max_decrease").
        view: "all", "CC" or "MLO".
        allow_ci: relative checks also pass inside the baseline's confidence interval.
        required: a missing number fails the rule instead of skipping it.
        description: one line for people.
    """

    name: str
    metric: str
    check: Check
    limit: float
    view: str = "all"
    allow_ci: bool = False
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule (one entry of the verdict's "rules")."""

    name: str
    metric: str
    view: str
    check: str
    value: float | None
    baseline: float | None
    limit: str
    passed: bool
    skipped: bool
    message: str


def read_rules(path: str | Path | None = None) -> tuple[GateRule, ...]:
    """Return the rules of a rules TOML file (None = the packaged defaults).

    Raises:
        BadInputError: missing file, invalid TOML, or an invalid rule (the message names the file).
    """
    p = Path(path) if path is not None else DEFAULT_RULES
    if not p.is_file():
        raise BadInputError(p, "no such rules file")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BadInputError(p, f"not valid TOML ({e})") from None
    tables = doc.get("rule")
    if not isinstance(tables, list) or not tables:
        raise BadInputError(p, "defines no [[rule]] tables")
    rules = tuple(_parse_rule(p, i, t) for i, t in enumerate(tables))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise BadInputError(p, f"duplicate rule names: {sorted({n for n in names if names.count(n) > 1})}")
    return rules


def _parse_rule(path: Path, i: int, table: Any) -> GateRule:
    where = f"rule {i + 1}"
    if not isinstance(table, dict):
        raise BadInputError(path, f"{where} is not a table")
    fields = set(GateRule.__dataclass_fields__)
    unknown = set(table) - fields
    if unknown:
        raise BadInputError(path, f"{where} has unknown keys {sorted(unknown)}; valid: {sorted(fields)}")
    missing = {"name", "metric", "check", "limit"} - set(table)
    if missing:
        raise BadInputError(path, f"{where} lacks {sorted(missing)}")
    if table["check"] not in CHECKS:
        raise BadInputError(path, f"{where} ({table['name']}): check {table['check']!r} is not one of {list(CHECKS)}")
    if isinstance(table["limit"], bool) or not isinstance(table["limit"], (int, float)):
        raise BadInputError(path, f"{where} ({table['name']}): limit must be a number")
    if not isinstance(table["metric"], str) or find_key_spec(table["metric"]) is None:
        raise BadInputError(path, f"{where} ({table['name']}): unknown metric {table['metric']!r}; "
                                  f"known: {', '.join(known_keys())}")
    if table.get("view", "all") not in ("all", "CC", "MLO"):
        raise BadInputError(path, f"{where} ({table['name']}): view must be all, CC or MLO")
    return GateRule(**{**table, "limit": float(table["limit"])})


def evaluate_rule(rule: GateRule, row: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> RuleResult:
    """Return the outcome of one rule on a score row and (for relative checks) a baseline row."""
    cur = metric_of(row, rule.metric, rule.view)
    base = metric_of(baseline, rule.metric, rule.view) if baseline is not None else None
    needs_base = rule.check in BASELINE_CHECKS

    def result(passed: bool, limit: str, message: str, skipped: bool = False) -> RuleResult:
        return RuleResult(rule.name, rule.metric, rule.view, rule.check, cur.value if cur else None,
                          base.value if base else None, limit, passed, skipped, message)

    if cur is None:
        if base is not None and needs_base:
            return result(False, "present", f"{rule.metric} is in the baseline but missing from the scores")
        verb = "missing (required)" if rule.required else "missing: rule skipped"
        return result(not rule.required, "present" if rule.required else "n/a",
                      f"{rule.metric} ({rule.view}) {verb}", skipped=not rule.required)
    if needs_base and base is None:
        verb = "missing (required)" if rule.required else "missing: rule skipped"
        return result(not rule.required, "n/a", f"baseline {rule.metric} ({rule.view}) {verb}",
                      skipped=not rule.required)
    threshold, text, upper = _threshold(rule, base)
    passed = cur.value <= threshold if upper else cur.value >= threshold
    rel = f" (baseline {base.value:.6g})" if base is not None else ""
    msg = (f"{rule.metric} ({rule.view}) = {cur.value:.6g}{rel}, limit {text} -> "
           f"{'ok' if passed else 'REGRESSION'}")
    return result(passed, text, msg)


def _threshold(rule: GateRule, base: MetricValue | None) -> tuple[float, str, bool]:
    """Return (threshold, readable limit, True when the value must stay at or below it)."""
    lim = rule.limit
    if rule.check == "max":
        return lim, f"<= {lim:g}", True
    if rule.check == "min":
        return lim, f">= {lim:g}", False
    assert base is not None
    if rule.check == "max_increase":
        return base.value + lim, f"<= baseline + {lim:g} = {base.value + lim:.6g}", True
    if rule.check == "max_decrease":
        return base.value - lim, f">= baseline - {lim:g} = {base.value - lim:.6g}", False
    use_ci = rule.allow_ci and base.ci is not None
    if rule.check == "max_rise":
        t = base.value * (1 + lim)
        if use_ci and base.ci is not None and base.ci[1] > t:
            return base.ci[1], f"<= baseline * {1 + lim:g} or inside the baseline CI (<= {base.ci[1]:.6g})", True
        return t, f"<= baseline * {1 + lim:g} = {t:.6g}", True
    t = base.value * (1 - lim)
    if use_ci and base.ci is not None and base.ci[0] < t:
        return base.ci[0], f">= baseline * {1 - lim:g} or inside the baseline CI (>= {base.ci[0]:.6g})", False
    return t, f">= baseline * {1 - lim:g} = {t:.6g}", False


def load_score_row(path: str | Path, *, checkpoint: str | None = None) -> tuple[dict[str, Any], Path]:
    """Return the score row to gate on and the file it came from.

    Args:
        path: a run directory (RUN/scores.jsonl), a scores.jsonl, or a JSON file with one row (a
            folder's scores.json or a baseline) or a list of rows.
        checkpoint: which checkpoint's row; None = the one in the run's best.json when present,
            else the last row.

    Raises:
        BadInputError: missing or malformed file, or no row for `checkpoint`.
    """
    p = Path(path)
    best_file = None
    if p.is_dir():
        best_file, p = p / BEST_FILE, p / SCORES_FILE
    elif p.name == SCORES_FILE:
        best_file = p.with_name(BEST_FILE)
    rows = read_score_file(p)
    want = checkpoint if checkpoint is not None else _best_checkpoint(best_file)
    if want is None:
        return rows[-1], p
    matches = [r for r in rows if r["checkpoint"] == want]
    if not matches:
        raise BadInputError(p, f"has no row for checkpoint {want!r}")
    return matches[-1], p


def _best_checkpoint(best_file: Path | None) -> str | None:
    if best_file is None or not best_file.is_file():
        return None
    best = read_json(best_file)
    if not isinstance(best, dict):
        raise BadInputError(best_file, "is not a valid best.json; delete it or rerun `mammoeval score`")
    name = best.get("checkpoint")
    return name if isinstance(name, str) else None


def _check_comparable(row: Mapping[str, Any], baseline: Mapping[str, Any], baseline_path: Path) -> None:
    a, b = row.get("resolution"), baseline.get("resolution")
    if a and b and list(a) != list(b):
        raise BadInputError(baseline_path, f"baseline resolution {b[0]}x{b[1]} differs from the scores' "
                                           f"{a[0]}x{a[1]}: the numbers are not comparable")


def run_gate(scores: str | Path, *, baseline: str | Path, rules: str | Path | None = None,
             checkpoint: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Evaluate every rule, write the verdict JSON atomically and return it.

    Args:
        scores: see `load_score_row`.
        baseline: a baseline row (written by `update_baseline`) or any score file / run dir.
        rules: rules TOML (None = packaged defaults).
        checkpoint: which checkpoint of `scores` to gate (None = best.json's, else the last).
        out: verdict path (None = gate.json next to the scores file).

    Raises:
        BadInputError: a missing or malformed scores, baseline or rules file, or a baseline at
            another resolution.
    """
    rule_set = read_rules(rules)
    row, scores_path = load_score_row(scores, checkpoint=checkpoint)
    base_row, base_path = load_score_row(baseline)
    _check_comparable(row, base_row, base_path)
    results = [evaluate_rule(r, row, base_row) for r in rule_set]
    passed = all(r.passed for r in results)
    verdict = {
        "verdict": "pass" if passed else "fail", "exit_code": EXIT_PASS if passed else EXIT_REGRESSION,
        "scores": str(scores_path), "baseline": str(base_path), "checkpoint": row["checkpoint"],
        "baseline_checkpoint": base_row["checkpoint"],
        "rules_file": str(Path(rules) if rules is not None else DEFAULT_RULES),
        "rules": [asdict(r) for r in results],
    }
    write_json_atomic(Path(out) if out is not None else scores_path.with_name(GATE_FILE), verdict)
    return verdict


def update_baseline(scores: str | Path, *, baseline: str | Path, checkpoint: str | None = None) -> dict[str, Any]:
    """Write the chosen score row to `baseline` atomically (a JSON object) and return it.

    Raises:
        BadInputError: a missing or malformed scores file or checkpoint.
    """
    row, _ = load_score_row(scores, checkpoint=checkpoint)
    write_json_atomic(baseline, row)
    return row
