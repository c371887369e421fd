"""State-file fuzzing: torn and mistyped JSON lines, score rows, baselines, rules and run files through
score, gate and report; each bad input is exit code 2 naming the file (and line), with no traceback,
and nothing good is lost."""

from __future__ import annotations

import json
import signal
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mammoeval.core.errors import BadInputError, MammoevalError
from mammoeval.core.fsutil import write_json_atomic
from mammoeval.core.jsonl import append_jsonl, read_jsonl, repair_tail
from mammoeval.score.schema import ScoreRow, read_score_rows
from tests.fuzz import kit

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
ROWS = st.lists(st.dictionaries(st.text(min_size=1, max_size=6), JSON_VALUES, max_size=4), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, cut=st.floats(0.0, 1.0), new=st.dictionaries(st.text(min_size=1, max_size=6), JSON_VALUES,
                                                                  max_size=3))
def test_a_torn_append_loses_only_the_torn_row_whatever_the_rows(tmp_path: Path, rows: list[dict[str, Any]],
                                                                 cut: float, new: dict[str, Any]) -> None:
    p = tmp_path / "log.jsonl"
    p.unlink(missing_ok=True)
    for r in rows:
        append_jsonl(p, r)
    whole = p.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    torn = whole[: last_start + int((len(whole) - last_start - 1) * cut)]  # the last append cut short
    p.write_bytes(torn)
    kept = rows[:-1] if not torn.endswith(b"\n") or len(torn) == last_start else rows
    assert read_jsonl(p) == kept  # a reader skips the torn tail
    append_jsonl(p, new)  # the next append repairs it first
    assert read_jsonl(p) == [*kept, new]
    append_jsonl(p, new)
    assert read_jsonl(p) == [*kept, new, new] and p.read_bytes().endswith(b"\n")


def test_repair_warns_in_one_line_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "metrics.jsonl"
    append_jsonl(p, {"tick": 1})
    with open(p, "ab") as f:
        f.write(b'{"tick": 2, "sw')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert repair_tail(p) == len(b'{"tick": 2, "sw')
        assert repair_tail(p) == 0  # nothing left to repair: no second warning
    lines = [str(w.message) for w in caught]
    assert len(lines) == 1 and "metrics.jsonl" in lines[0] and "\n" not in lines[0]
    assert read_jsonl(p) == [{"tick": 1}]


def test_cli_prints_the_repair_warning_once_as_one_line(tmp_path: Path) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    with open(run / "scores.jsonl", "ab") as f:
        f.write(b'{"checkpoint": "ckpt-0000009000.pt", "metr')
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    result = kit.invoke(["gate", run, "--baseline", baseline])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "scores.jsonl" in warned[0] and "partial last line" in warned[0]


BAD_JSONL: list[tuple[str, bytes, str]] = [
    ("middle_garbage", b'{"a": 1}\nnot json\n{"a": 2}\n', r"line 2 is not valid JSON"),
    ("not_object", b'{"a": 1}\n[1, 2]\n', r"line 2 is not a JSON object"),
    ("latin1", '{"a": "é"}\n'.encode("latin-1"), r"line 1 is not UTF-8"),
    ("utf16", '{"a": 1}\n'.encode("utf-16"), r"line 1 is not"),
    ("deep", b"[" * 100000 + b"]" * 100000 + b"\n", r"line 1"),
    ("nul_bytes", b"\x00\x00\x00\n", r"line 1 is not valid JSON"),
]


@pytest.mark.parametrize(("name", "data", "reason"), BAD_JSONL, ids=[b[0] for b in BAD_JSONL])
def test_bad_json_lines_name_the_file_and_line(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    p = tmp_path / f"{name}.jsonl"
    p.write_bytes(data)
    with pytest.raises(BadInputError, match=rf"{name}\.jsonl: {reason}"):
        read_jsonl(p)


# --- score rows -------------------------------------------------------------------------------------

MISTYPED: list[tuple[str, dict[str, Any], str]] = [
    ("metrics_text", {"metrics": "oops"}, r'"metrics" must be an object'),
    ("metrics_view_list", {"metrics": {"all": [1]}}, r'"metrics.all" must be an object'),
    ("metric_entry_number", {"metrics": {"all": {"swd_avg": 0.1}}}, r'"metrics.all.swd_avg" must be an object'),
    ("metric_value_text", {"metrics": {"all": {"swd_avg": {"value": "0.1"}}}}, r'"metrics.all.swd_avg.value"'),
    ("metric_ci_three", {"metrics": {"all": {"swd_avg": {"value": 0.1, "ci": [0, 1, 2]}}}}, r"\.ci"),
    ("settings_list", {"settings": ["a"]}, r'"settings" must be an object'),
    ("settings_hash_number", {"settings": {"settings_hash": 5}}, r'"settings.settings_hash"'),
    ("resolution_text", {"resolution": "80x64"}, r'"resolution" must be'),
    ("resolution_three", {"resolution": [80, 64, 1]}, r'"resolution" must be'),
    ("resolution_negative", {"resolution": [-80, 64]}, r'"resolution" must be'),
    ("resolution_float", {"resolution": [80.5, 64]}, r'"resolution" must be'),
    ("checkpoint_number", {"checkpoint": 7}, r'"checkpoint" must be non-empty text'),
    ("kimg_text", {"kimg": "one"}, r'"kimg" must be a number'),
    ("qa_list", {"qa": []}, r'"qa" must be an object'),
    ("memorization_pairs_text", {"memorization": {"pairs": "x"}}, r'"memorization.pairs"'),
    ("pair_distance_text", {"memorization": {"pairs": [{"fake_id": "CC-seed1", "distance": "far"}]}},
     r'"memorization.pairs\[0\].distance" must be a number'),
    ("unavailable_list", {"unavailable": ["fid"]}, r'"unavailable"'),
    ("n_per_view_text", {"n_per_view": "8"}, r'"n_per_view"'),
    ("seed_float", {"seed": 0.5}, r'"seed" must be an integer'),
    ("timing_number", {"timing": 3}, r'"timing" must be an object'),
]


def _run_with_rows(root: Path, rows: list[Any], *, best: str | None = None) -> Path:
    run = root / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_json_atomic(run / "config.json", {"dataset_path": str(root / "missing-dataset"), "seed": 0})
    if best:
        write_json_atomic(run / "best.json", {"checkpoint": best})
    return run


@pytest.mark.parametrize(("name", "change", "reason"), MISTYPED, ids=[m[0] for m in MISTYPED])
def test_mistyped_score_row_is_refused_by_every_reader(tmp_path: Path, name: str, change: dict[str, Any],
                                                       reason: str) -> None:
    good = kit.score_row("ckpt-0000001000.pt")
    bad = {**kit.score_row("ckpt-0000002000.pt"), **change}
    run = _run_with_rows(tmp_path, [good, bad])
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, good)
    where = r"scores\.jsonl: line 2"
    with pytest.raises(BadInputError, match=where + ".*" + reason):
        read_score_rows(run / "scores.jsonl")
    gate = kit.invoke(["gate", run, "--baseline", baseline])
    assert "line 2" in kit.assert_bad_input(gate, "scores.jsonl")
    report = kit.invoke(["report", run, "--out", tmp_path / "rep", "--no-progress"])
    assert "line 2" in kit.assert_bad_input(report, "scores.jsonl")
    assert json.loads(baseline.read_text()) == good  # nothing good changed


def test_bad_resolution_in_the_scores_is_not_blamed_on_the_baseline(tmp_path: Path) -> None:
    run = _run_with_rows(tmp_path, [{**kit.score_row(), "resolution": "80x64"}])
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    line = kit.assert_bad_input(kit.invoke(["gate", run, "--baseline", baseline]), "scores.jsonl")
    assert "baseline" not in line.split(":")[1]


def test_a_baseline_at_another_resolution_is_blamed_on_the_baseline(tmp_path: Path) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row(res=(40, 32)))
    kit.assert_bad_input(kit.invoke(["gate", run, "--baseline", baseline]), "baseline.json")


NOT_SCORE_FILES: list[tuple[str, str, bytes]] = [
    ("best", "best.json", json.dumps({"checkpoint": "ckpt-0000001000.pt", "rule": "swd", "value": 0.1}).encode()),
    ("gate_verdict", "gate.json", json.dumps({"checkpoint": "c", "verdict": "pass", "rules": []}).encode()),
    ("config", "config.json", json.dumps({"dataset_path": "x", "seed": 0}).encode()),
    ("log", "log.jsonl", b'{"tick": 1, "kimg": 0.1}\n'),
    ("list_of_numbers", "scores.json", b"[1, 2, 3]"),
    ("empty_jsonl", "scores.jsonl", b""),
    ("empty_json", "scores.json", b""),
    ("utf16_json", "scores.json", json.dumps(kit.score_row()).encode("utf-16")),
    ("deep_json", "scores.json", b"[" * 100000 + b"]" * 100000),
    ("torn_only", "scores.jsonl", b'{"checkpoint": "ckpt-00'),
    ("png_bytes", "scores.json", kit.png_bytes(kit.breast())),
]


@pytest.mark.parametrize(("case", "name", "data"), NOT_SCORE_FILES, ids=[c[0] for c in NOT_SCORE_FILES])
def test_gate_on_a_file_that_is_not_a_score_file_exits_2(tmp_path: Path, case: str, name: str, data: bytes) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    kit.assert_bad_input(kit.invoke(["gate", p, "--baseline", baseline]), name)
    kit.assert_bad_input(kit.invoke(["gate", tmp_path / "scores-ok.jsonl", "--baseline", p]), "scores-ok.jsonl")
    (tmp_path / "scores-ok.jsonl").write_text(json.dumps(kit.score_row()) + "\n")
    kit.assert_bad_input(kit.invoke(["gate", tmp_path / "scores-ok.jsonl", "--baseline", p]), name)


@pytest.mark.parametrize("kind", ["fifo", "folder", "dangling", "loop", "socket"])
def test_gate_on_a_path_that_is_not_a_regular_file_exits_2_without_hanging(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "scores.json"
    if kind == "fifo":
        kit.make_fifo(p)
    elif kind == "folder":
        p.mkdir()
    elif kind == "dangling":
        p.symlink_to("nowhere.json")
    elif kind == "loop":
        p.symlink_to("scores.json")
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    signal.alarm(30)
    try:
        if kind == "socket":
            with kit.unix_socket(p):
                result = kit.invoke(["gate", p, "--baseline", baseline])
        else:
            result = kit.invoke(["gate", p, "--baseline", baseline])
    finally:
        signal.alarm(0)
    kit.assert_bad_input(result, "scores.json")


RULES: list[tuple[str, bytes]] = [
    ("utf16", '[[rule]]\nname = "a"\nmetric = "swd_avg"\ncheck = "max"\nlimit = 1\n'.encode("utf-16")),
    ("bad_check", b'[[rule]]\nname = "a"\nmetric = "swd_avg"\ncheck = "below"\nlimit = 1\n'),
    ("limit_text", b'[[rule]]\nname = "a"\nmetric = "swd_avg"\ncheck = "max"\nlimit = "1"\n'),
    ("no_rules", b'title = "nothing"\n'),
    ("not_toml", b"{json: true}"),
]


@pytest.mark.parametrize(("case", "data"), RULES, ids=[r[0] for r in RULES])
def test_bad_rules_file_exits_2_naming_it(tmp_path: Path, case: str, data: bytes) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    rules = tmp_path / "rules.toml"
    rules.write_bytes(data)
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    kit.assert_bad_input(kit.invoke(["gate", run, "--baseline", baseline, "--rules", rules]), "rules.toml")


def test_gate_reads_past_a_torn_last_row(tmp_path: Path) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    with open(run / "scores.jsonl", "ab") as f:
        f.write(b'{"checkpoint": "ckpt-0000009000.pt", "metr')
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    result = kit.invoke(["gate", run, "--baseline", baseline])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert json.loads((run / "gate.json").read_text())["checkpoint"] == "ckpt-0000001000.pt"


@pytest.mark.parametrize(("case", "best"), [("list", b"[1]"), ("garbage", b"{"), ("utf16", '{"a": 1}'.encode("utf-16"))])
def test_bad_best_json_exits_2_in_gate_and_report(tmp_path: Path, case: str, best: bytes) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    (run / "best.json").write_bytes(best)
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    kit.assert_bad_input(kit.invoke(["gate", run, "--baseline", baseline]), "best.json")
    kit.assert_bad_input(kit.invoke(["report", run, "--out", tmp_path / "rep", "--no-progress"]), "best.json")


@pytest.mark.parametrize(("case", "config"), [("garbage", b"{"), ("list", b"[]"), ("latin1", '{"é": 1}'.encode("latin-1"))])
def test_bad_config_json_exits_2_in_score_and_report(tmp_path: Path, case: str, config: bytes) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    (run / "config.json").write_bytes(config)
    kit.assert_bad_input(kit.invoke(["report", run, "--out", tmp_path / "rep", "--no-progress"]), "config.json")
    kit.assert_bad_input(kit.invoke(["score", run, "--no-progress"]), "config.json")


def _mutations() -> st.SearchStrategy[tuple[list[Any], Any]]:
    paths = st.sampled_from([["metrics"], ["metrics", "all"], ["metrics", "all", "swd_avg"],
                             ["metrics", "all", "swd_avg", "value"], ["metrics", "all", "swd_avg", "ci"],
                             ["resolution"], ["settings"], ["qa"], ["qa", "all"], ["qa", "all", "artifact_rate"],
                             ["memorization"], ["memorization", "pairs"], ["memorization", "rate"], ["kimg"],
                             ["memorization", "pairs", 0], ["memorization", "pairs", 0, "distance"],
                             ["n_images_shown"], ["unavailable"], ["checkpoint"], ["n_per_view"]])
    return st.tuples(paths, JSON_VALUES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=_mutations())
def test_any_mutated_row_is_refused_in_one_line_or_read_by_selection_and_gate(tmp_path: Path,
                                                                              mutation: tuple[list[Any], Any]) -> None:
    from mammoeval.gate import evaluate_rule, read_rules
    from mammoeval.report.context import ReportOptions
    from mammoeval.report.html import _summary
    from mammoeval.report.sources import nn_pairs_for_view, select_row
    from mammoeval.score.selection import select_checkpoint

    path, value = mutation
    row: dict[str, Any] = kit.score_row("ckpt-0000002000.pt")
    node: Any = row
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    p = tmp_path / "scores.jsonl"
    p.write_text(json.dumps(kit.score_row()) + "\n" + json.dumps(row) + "\n")
    try:
        rows = read_score_rows(p)
    except BadInputError as e:
        assert "scores.jsonl: line 2" in str(e) and "\n" not in str(e)
        return
    ScoreRow.from_json(rows[1])
    try:
        select_checkpoint(rows, rule="swd")
        select_checkpoint(rows, rule="composite")
    except MammoevalError as e:
        assert "\n" not in str(e)
    for rule in read_rules():
        evaluate_rule(rule, rows[1], rows[0])
    selected = select_row(rows, {"checkpoint": "ckpt-0000002000.pt"})
    for view in ("CC", "MLO", "all"):
        nn_pairs_for_view(view, selected, ReportOptions(), train_root=None, generator=None)
    _summary(_report_data(rows, selected))


def _report_data(rows: list[dict[str, Any]], selected: dict[str, Any] | None) -> Any:
    from mammoeval.report.context import ReportData

    return ReportData(title="t", mode="run", source="s", config={}, log=[], scores=rows, selected=selected,
                      best=None, gate=None, snapshots=[], reals_grid=None, views=[], provenance={})


@pytest.mark.parametrize(("name", "change", "reason"), MISTYPED[:4], ids=[m[0] for m in MISTYPED[:4]])
def test_score_refuses_to_append_to_a_scores_file_with_a_mistyped_row(tmp_path: Path, name: str,
                                                                      change: dict[str, Any], reason: str) -> None:
    from mammoeval.score.run import score_run
    from mammoeval.score.settings import ScoreSettings
    from tests.score.test_run import Backends, _make_run, _real

    run = _make_run(tmp_path, [(1000, (32, 32), 0.5), (2000, (32, 32), 0.5)])
    rows = [kit.score_row("ckpt-0000001000.pt"), {**kit.score_row("ckpt-0000002000.pt"), **change}]
    (run / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (run / "scores.jsonl").read_bytes()
    with pytest.raises(BadInputError, match=r"scores\.jsonl: line 2.*" + reason):
        score_run(run, settings=ScoreSettings(n_per_view=2, n_bootstrap=0), progress=False,
                  backends=Backends(_real()).backends())
    assert (run / "scores.jsonl").read_bytes() == before and not (run / "best.json").exists()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_appending_to_a_path_that_is_not_a_regular_file_is_one_line(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "log.jsonl"
    kit.make_fifo(p) if kind == "fifo" else p.mkdir()
    signal.alarm(30)
    try:
        with pytest.raises(BadInputError, match=r"log\.jsonl: "):
            append_jsonl(p, {"tick": 1})
    finally:
        signal.alarm(0)


def test_outputs_that_cannot_be_written_are_exit_2_naming_them(tmp_path: Path) -> None:
    run = _run_with_rows(tmp_path, [kit.score_row()])
    folder = tmp_path / "a-folder.json"
    folder.mkdir()
    kit.assert_bad_input(kit.invoke(["gate", run, "--baseline", folder, "--update-baseline"]), "a-folder.json")
    baseline = tmp_path / "baseline.json"
    write_json_atomic(baseline, kit.score_row())
    kit.assert_bad_input(kit.invoke(["gate", run, "--baseline", baseline, "--out", folder]), "a-folder.json")
    src = tmp_path / "src"
    src.mkdir()
    kit.write_png(src / "a.png", kit.breast())
    not_a_folder = tmp_path / "file-out"
    not_a_folder.write_text("I am a file")
    result = kit.invoke(["data", "prepare", src, "--out", not_a_folder, "--size", "32x24", "--workers", "1",
                         "--no-progress"])
    kit.assert_bad_input(result, "file-out")
    assert not_a_folder.read_text() == "I am a file"
