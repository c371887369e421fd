"""Scoring under torch.distributed: two gloo ranks on CPU produce the same rows as one process,
and only rank 0 writes."""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.score.test_end_to_end import tiny_run  # noqa: F401  (the module-scoped trained-run fixture)

MEASURED = ("metrics", "unavailable", "memorization", "qa", "resolution", "checkpoint", "checkpoint_sha256")
SETTINGS = dict(n_per_view=5, n_bootstrap=10, batch_size=3, cache_max_mb=0)  # 4 batches/pass, regenerated per pass


def _settings() -> Any:
    from mammoeval.score.settings import ScoreSettings

    return ScoreSettings(**SETTINGS)  # type: ignore[arg-type]


def _rank_main(rank: int, world: int, init_file: str, run_dir: str, out_dir: str) -> None:
    """One rank: join the gloo group, score the run, record what it returned and which files it wrote."""
    import torch
    import torch.distributed as dist

    import mammoeval.score.run as run_mod

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    writes: list[str] = []
    real_append, real_write = run_mod.append_jsonl, run_mod.write_json_atomic

    def append(path: Path, row: dict[str, Any]) -> None:
        writes.append(str(path))
        real_append(path, row)

    def write(path: Path, obj: Any) -> None:
        writes.append(str(path))
        real_write(path, obj)

    run_mod.append_jsonl, run_mod.write_json_atomic = append, write  # type: ignore[assignment]
    try:
        result = run_mod.score_run(run_dir, settings=_settings(), last=2, progress=False)
        report = {"writes": writes, "new_rows": [r["checkpoint"] for r in result.new_rows],
                  "best": result.best}
    except Exception as exc:  # reported to the test, which fails with the message
        report = {"error": f"{type(exc).__name__}: {exc}", "writes": writes}
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


def _run_ranks(world: int, run_dir: Path, tmp: Path) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_rank_main, args=(r, world, str(tmp / "init"), str(run_dir), str(tmp)))
             for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a rank hung"
    reports = [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(world)]
    assert all("error" not in r for r in reports), reports
    return reports


def test_two_ranks_score_exactly_like_one_process(tiny_run: Path, tmp_path: Path) -> None:  # noqa: F811
    pytest.importorskip("mammoeval.metrics.suite")
    import torch

    from mammoeval.score.run import score_run

    single, multi = tmp_path / "single", tmp_path / "multi"
    for d in (single, multi):
        shutil.copytree(tiny_run, d, ignore=shutil.ignore_patterns("scores.jsonl", "best.json", ".cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = score_run(single, settings=_settings(), last=2, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert len(expected.new_rows) == 2

    reports = _run_ranks(2, multi, tmp_path)
    assert reports[1]["writes"] == [] and len(reports[0]["writes"]) == 3  # 2 rows + best.json, rank 0 only
    assert reports[0]["new_rows"] == reports[1]["new_rows"] == [r["checkpoint"] for r in expected.new_rows]
    assert reports[1]["best"] == reports[0]["best"]  # the other rank returns rank 0's result

    rows = [json.loads(line) for line in (multi / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for got, want in zip(rows, expected.new_rows, strict=True):
        assert got["metrics"]["all"]["swd_avg"]["n_fake"] == 10
        for key in MEASURED:
            assert json.dumps(got[key], sort_keys=True) == json.dumps(want[key], sort_keys=True), key
    best = json.loads((multi / "best.json").read_text())
    assert best["checkpoint"] == expected.best["checkpoint"]  # type: ignore[index]
