"""The quality gate: every default rule fires and passes, relative checks, missing numbers, bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import append_jsonl
from mammoeval.gate import GateRule, evaluate_rule, read_rules, run_gate, update_baseline


def _m(value: float, ci: tuple[float, float] | None = None) -> dict[str, Any]:
    return {"value": value, "ci": list(ci) if ci else None, "floor": None, "n_real": 8, "n_fake": 8}


def _row(name: str = "ckpt-0000001000.pt", *, swd: float = 0.010, swd_ci: tuple[float, float] | None = None,
         fid: float | None = None, artifact: float = 0.05, msssim_fake: float = 0.30, mem: float = 0.0,
         res: tuple[int, int] = (80, 64)) -> dict[str, Any]:
    view = {"swd_avg": _m(swd, swd_ci), "msssim_fake": _m(msssim_fake), "msssim_real": _m(0.30),
            "memorization_rate": _m(mem)}
    if fid is not None:
        view["fid"] = _m(fid)
    return {"checkpoint": name, "n_images_shown": 1000, "kimg": 1.0, "resolution": list(res),
            "metrics": {"all": view}, "qa": {"all": {"artifact_rate": {"any": {"real": 0.0, "fake": artifact}}}}}


RULES = {r.name: r for r in read_rules()}

# (rule, passing (current, baseline), failing (current, baseline)) with the default limits.
CASES = [
    ("swd_regression", (_row(swd=0.0109), _row(swd=0.010)), (_row(swd=0.0111), _row(swd=0.010))),
    ("fid_regression", (_row(fid=10.9), _row(fid=10.0)), (_row(fid=11.1), _row(fid=10.0))),
    ("artifact_rate_limit", (_row(artifact=0.20), _row()), (_row(artifact=0.21), _row(artifact=0.21))),
    ("artifact_rate_regression", (_row(artifact=0.14), _row(artifact=0.10)),
     (_row(artifact=0.16), _row(artifact=0.10))),
    ("diversity", (_row(msssim_fake=0.39), _row()), (_row(msssim_fake=0.41), _row())),
    ("memorization", (_row(mem=0.05), _row()), (_row(mem=0.06), _row())),
]


def test_every_default_rule_is_covered() -> None:
    assert {c[0] for c in CASES} == set(RULES)


@pytest.mark.parametrize(("name", "ok", "bad"), CASES, ids=[c[0] for c in CASES])
def test_default_rule_passes_and_fires(name: str, ok: tuple[dict, dict], bad: tuple[dict, dict]) -> None:
    good = evaluate_rule(RULES[name], *ok)
    assert good.passed and not good.skipped, good.message
    fired = evaluate_rule(RULES[name], *bad)
    assert not fired.passed and "REGRESSION" in fired.message
    assert fired.value is not None


def test_relative_rule_passes_inside_baseline_ci() -> None:
    rule = RULES["swd_regression"]
    base = _row(swd=0.010, swd_ci=(0.008, 0.013))
    assert evaluate_rule(rule, _row(swd=0.0125), base).passed      # +25% but inside the CI
    assert not evaluate_rule(rule, _row(swd=0.0131), base).passed   # beyond both
    no_ci = GateRule("r", "swd_avg", "max_rise", 0.10, allow_ci=False)
    assert not evaluate_rule(no_ci, _row(swd=0.0125), base).passed


def test_drop_and_decrease_checks_bound_from_below() -> None:
    base = _row(mem=0.5)
    assert evaluate_rule(GateRule("d", "memorization_rate", "max_drop", 0.1), _row(mem=0.46), base).passed
    assert not evaluate_rule(GateRule("d", "memorization_rate", "max_drop", 0.1), _row(mem=0.44), base).passed
    assert evaluate_rule(GateRule("d", "memorization_rate", "max_decrease", 0.1), _row(mem=0.41), base).passed
    assert not evaluate_rule(GateRule("d", "memorization_rate", "min", 0.42), _row(mem=0.41), base).passed


def test_missing_numbers_skip_fail_when_required_or_when_baseline_has_them() -> None:
    fid_rule = RULES["fid_regression"]
    skipped = evaluate_rule(fid_rule, _row(), _row())
    assert skipped.passed and skipped.skipped and "skipped" in skipped.message
    lost = evaluate_rule(fid_rule, _row(), _row(fid=10.0))
    assert not lost.passed and "missing from the scores" in lost.message
    required = GateRule("r", "fid", "max", 50.0, required=True)
    assert not evaluate_rule(required, _row(), _row()).passed


def _write_run(tmp_path: Path, rows: list[dict[str, Any]], best: str | None = None) -> Path:
    run = tmp_path / "run"
    for r in rows:
        append_jsonl(run / "scores.jsonl", r)
    if best:
        (run / "best.json").write_text(json.dumps({"checkpoint": best}))
    return run


def test_run_gate_uses_best_checkpoint_and_writes_verdict(tmp_path: Path) -> None:
    run = _write_run(tmp_path, [_row("ckpt-0000001000.pt", swd=0.010), _row("ckpt-0000002000.pt", swd=0.050)],
                     best="ckpt-0000001000.pt")
    baseline = tmp_path / "baseline.json"
    recorded = update_baseline(run, baseline=baseline)
    assert recorded["checkpoint"] == "ckpt-0000001000.pt"
    assert json.loads(baseline.read_text()) == recorded
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    verdict = run_gate(run, baseline=baseline)
    assert verdict["verdict"] == "pass" and verdict["exit_code"] == 0
    assert json.loads((run / "gate.json").read_text()) == verdict
    # The last checkpoint regressed by 5x: gating it explicitly fails with both values printed.
    out = tmp_path / "v.json"
    failed = run_gate(run / "scores.jsonl", baseline=baseline, checkpoint="ckpt-0000002000.pt", out=out)
    assert failed["verdict"] == "fail" and failed["exit_code"] == 1
    swd = next(r for r in failed["rules"] if r["name"] == "swd_regression")
    assert (swd["value"], swd["baseline"], swd["passed"]) == (0.05, 0.01, False)
    assert json.loads(out.read_text())["verdict"] == "fail"


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "scores.json"
    good.write_text(json.dumps(_row()))
    with pytest.raises(BadInputError, match="nope.json: no such score file"):
        run_gate(good, baseline=tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(BadInputError, match="broken.json: not valid JSON"):
        run_gate(broken, baseline=good)
    norow = tmp_path / "norow.json"
    norow.write_text(json.dumps({"swd": 1}))
    with pytest.raises(BadInputError, match="norow.json: row 1 is not a score row"):
        run_gate(good, baseline=norow)
    other_res = tmp_path / "other.json"
    other_res.write_text(json.dumps(_row(res=(160, 128))))
    with pytest.raises(BadInputError, match="other.json: baseline resolution 160x128 differs"):
        run_gate(good, baseline=other_res)
    with pytest.raises(BadInputError, match="has no row for checkpoint 'x.pt'"):
        run_gate(good, baseline=good, checkpoint="x.pt")


@pytest.mark.parametrize(("text", "match"), [
    ("[[rule]\nname=", "not valid TOML"),
    ("x = 1\n", "defines no"),
    ('[[rule]]\nname="a"\nmetric="swd_avg"\ncheck="below"\nlimit=1\n', "check 'below' is not one of"),
    ('[[rule]]\nname="a"\nmetric="sdw_avg"\ncheck="max"\nlimit=1\n', "unknown metric 'sdw_avg'; known: swd_avg"),
    ('[[rule]]\nname="a"\nmetric="swd_avg"\ncheck="max"\n', r"lacks \['limit'\]"),
    ('[[rule]]\nname="a"\nmetric="swd_avg"\ncheck="max"\nlimit=1\nlimt=2\n', "unknown keys"),
    ('[[rule]]\nname="a"\nmetric="swd_avg"\ncheck="max"\nlimit="1"\n', "limit must be a number"),
    ('[[rule]]\nname="a"\nmetric="swd_avg"\ncheck="max"\nlimit=1\n[[rule]]\nname="a"\nmetric="fid"\ncheck="max"\nlimit=1\n',
     "duplicate rule names"),
])
def test_malformed_rules_are_one_line_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(BadInputError, match=f"rules.toml: .*{match}"):
        read_rules(path)


def test_cli_exit_codes_and_messages(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mammoeval.cli import app

    runner = CliRunner()
    current = tmp_path / "scores.json"
    current.write_text(json.dumps(_row(swd=0.010)))
    baseline = tmp_path / "baseline.json"
    res = runner.invoke(app, ["gate", str(current), "--baseline", str(baseline), "--update-baseline"])
    assert res.exit_code == 0 and baseline.is_file()
    res = runner.invoke(app, ["gate", str(current), "--baseline", str(baseline)])
    assert res.exit_code == 0 and "verdict: pass" in res.output
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "pass"
    worse = tmp_path / "worse.json"
    worse.write_text(json.dumps(_row(swd=0.020, artifact=0.5)))
    res = runner.invoke(app, ["gate", str(worse), "--baseline", str(baseline), "--out", str(tmp_path / "v.json")])
    assert res.exit_code == 1 and json.loads((tmp_path / "v.json").read_text())["verdict"] != "pass"
    assert "FAIL swd_regression: swd_avg (all) = 0.02 (baseline 0.01)" in res.output
    assert "FAIL artifact_rate_limit" in res.output and "FAIL memorization" not in res.output
    res = runner.invoke(app, ["gate", str(tmp_path / "missing.json"), "--baseline", str(baseline)])
    assert res.exit_code == 2 and "missing.json: no such score file" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    bad_rules = tmp_path / "r.toml"
    bad_rules.write_text("[[rule]]\nname = 1 2\n")
    res = runner.invoke(app, ["gate", str(current), "--baseline", str(baseline), "--rules", str(bad_rules)])
    assert res.exit_code == 2 and "r.toml: not valid TOML" in res.output
