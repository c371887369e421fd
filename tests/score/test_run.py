"""Run-scoring bookkeeping with cheap stand-ins for the generator, the metrics suite and QA:
incremental, resumable after a kill, keyed by settings, real set reduced to each resolution."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import load_torch_safe, read_jsonl, save_torch_atomic, write_json_atomic
from mammoeval.core.rundir import checkpoint_name, list_checkpoints
from mammoeval.data.imageset import ImageSet, TensorImageSet
from mammoeval.score.generated import GeneratedImageSet
from mammoeval.score.run import ScoreBackends, pick_checkpoints, score_run
from mammoeval.score.settings import ScoreSettings


@dataclass
class FakeSampler:
    """Image i = uniform noise seeded by seeds[i], scaled by the checkpoint's `brightness`."""

    n_images_shown: int
    resolution: tuple[int, int]
    brightness: float
    calls: list[int] = field(default_factory=list)

    def generate(self, seeds: list[int], views: torch.Tensor, *, batch_size: int = 16,
                 device: str | torch.device = "cpu") -> torch.Tensor:
        self.calls.append(len(seeds))
        h, w = self.resolution
        imgs = [torch.rand(1, h, w, generator=torch.Generator().manual_seed(s)) * self.brightness for s in seeds]
        return torch.stack(imgs)


@dataclass
class FakeSuiteResult:
    views: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"views": self.views, "unavailable": {"fid": "no weights"}, "memorization": {"rate": 0.0},
                "settings": {}}


class Backends:
    """Stand-ins recording what they were asked; `crash_on` raises inside the suite for that call."""

    def __init__(self, real: ImageSet, crash_on: int | None = None) -> None:
        self.real = real
        self.crash_on = crash_on
        self.suite_calls: list[tuple[tuple[int, int], tuple[int, int], int]] = []
        self.scans = 0

    def load(self, path: Path, device: str = "cpu") -> FakeSampler:
        d = load_torch_safe(path)
        return FakeSampler(int(d["n"]), tuple(d["res"]), float(d["brightness"]))

    def suite(self, real: ImageSet, fake: ImageSet, **kw: Any) -> FakeSuiteResult:
        self.suite_calls.append((real.size, fake.size, len(fake)))
        if self.crash_on is not None and len(self.suite_calls) == self.crash_on:
            raise KeyboardInterrupt  # what a kill looks like from inside: nothing after this runs
        means = {}
        for name, s in (("real", real), ("fake", fake)):
            batches = list(s.iter_batches(5))
            assert all(b.images.shape[-2:] == s.size for b in batches)
            means[name] = float(torch.cat([b.images for b in batches]).mean())
        swd = abs(means["real"] - means["fake"])
        entry = {"swd_avg": {"value": swd, "ci": [swd * 0.9, swd * 1.1], "floor": 0.0, "n_real": len(real),
                             "n_fake": len(fake)}}
        return FakeSuiteResult({"CC": entry, "MLO": entry, "all": entry})

    def scan(self, images: ImageSet, progress: bool = True) -> int:
        self.scans += 1
        return len(images)

    def backends(self) -> ScoreBackends:
        return ScoreBackends(load_generator=self.load, compute_suite=self.suite, default_metrics=("swd",),
                             open_real=lambda p: self.real, scan_image_set=self.scan,
                             compare_scans=lambda r, f, **kw: {"all": {"artifact_rate": {"any": {"real": 0.0, "fake": 0.0}}}})


def _make_run(tmp_path: Path, checkpoints: list[tuple[int, tuple[int, int], float]]) -> Path:
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    write_json_atomic(run / "config.json", {"dataset_path": "data", "size": [32, 32], "seed": 0})
    for n, res, brightness in checkpoints:
        save_torch_atomic(run / "checkpoints" / checkpoint_name(n), {"n": n, "res": list(res), "brightness": brightness})
    return run


def _real() -> TensorImageSet:
    g = torch.Generator().manual_seed(7)
    return TensorImageSet(torch.rand(8, 1, 32, 32, generator=g) * 0.6, torch.tensor([0, 1] * 4))


SETTINGS = ScoreSettings(n_per_view=3, n_bootstrap=0, min_side=8)
CKPTS = [(1000, (4, 4), 0.1), (2000, (16, 16), 0.2), (3000, (32, 32), 0.5), (4000, (32, 32), 0.9)]


def test_second_call_does_no_work_and_best_is_lowest_swd_at_final_resolution(tmp_path: Path) -> None:
    run = _make_run(tmp_path, CKPTS)
    fakes = Backends(_real())
    first = score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    assert [r["checkpoint"] for r in first.new_rows] == [checkpoint_name(n) for n in (2000, 3000, 4000)]
    assert first.too_small == [checkpoint_name(1000)]  # 4x4 < min_side
    # Real images are seen at each generator's resolution; 2 x 3 images generated per checkpoint.
    assert fakes.suite_calls == [((16, 16), (16, 16), 6), ((32, 32), (32, 32), 6), ((32, 32), (32, 32), 6)]
    row = first.new_rows[1]
    assert row["kimg"] == 3.0 and row["resolution"] == [32, 32] and row["n_per_view"] == 3
    assert row["unavailable"] == {"fid": "no weights"} and row["qa"]["all"]["artifact_rate"]["any"]["fake"] == 0.0
    assert set(row["timing"]) == {"generate_s", "metrics_s", "qa_s", "total_s", "workers"}
    assert len(row["checkpoint_sha256"]) == 64 and row["settings"]["settings_hash"]
    # Real mean 0.3; fake mean 0.25 (brightness 0.5) beats 0.45 (0.9); 16x16 is not compared.
    best = json.loads((run / "best.json").read_text())
    assert best["checkpoint"] == checkpoint_name(3000) and best == first.best
    lines_before = (run / "scores.jsonl").read_text()
    fakes.suite_calls.clear()
    second = score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    assert fakes.suite_calls == [] and second.new_rows == []
    assert second.already_scored == [checkpoint_name(n) for n in (2000, 3000, 4000)]
    assert (run / "scores.jsonl").read_text() == lines_before


def test_qa_scans_real_once_per_resolution(tmp_path: Path) -> None:
    run = _make_run(tmp_path, CKPTS[1:])
    fakes = Backends(_real())
    score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    assert fakes.scans == 2 + 3  # reals at 16x16 and 32x32, plus one scan per checkpoint


def test_killed_call_resumes_with_the_first_unscored_checkpoint(tmp_path: Path) -> None:
    run = _make_run(tmp_path, CKPTS[1:])
    crashing = Backends(_real(), crash_on=2)
    with pytest.raises(KeyboardInterrupt):
        score_run(run, settings=SETTINGS, progress=False, backends=crashing.backends())
    assert [r["checkpoint"] for r in read_jsonl(run / "scores.jsonl")] == [checkpoint_name(2000)]
    assert not (run / "best.json").exists()
    with open(run / "scores.jsonl", "a") as f:  # a kill during the append leaves a partial line
        f.write('{"checkpoint": "ckpt-00000')
    fakes = Backends(_real())
    resumed = score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    assert len(fakes.suite_calls) == 2
    assert [r["checkpoint"] for r in resumed.rows] == [checkpoint_name(n) for n in (2000, 3000, 4000)]
    assert resumed.best is not None and resumed.best["checkpoint"] == checkpoint_name(3000)


def test_changed_settings_rescore_explicitly_and_select_among_current_rows(tmp_path: Path) -> None:
    run = _make_run(tmp_path, CKPTS[2:])
    fakes = Backends(_real())
    score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    more = ScoreSettings(n_per_view=4, n_bootstrap=0, min_side=8)
    result = score_run(run, settings=more, progress=False, backends=fakes.backends(), last=1)
    assert [r["checkpoint"] for r in result.new_rows] == [checkpoint_name(4000)]
    assert [r["n_per_view"] for r in read_jsonl(run / "scores.jsonl")] == [3, 3, 4]
    assert result.best is not None and result.best["checkpoint"] == checkpoint_name(4000)  # only row at n=4
    # Device and batch size do not change the key.
    same = ScoreSettings(n_per_view=3, n_bootstrap=0, min_side=8, batch_size=2, device="cpu")
    assert score_run(run, settings=same, progress=False, backends=fakes.backends()).new_rows == []


def test_pick_checkpoints_last_and_every(tmp_path: Path) -> None:
    run = _make_run(tmp_path, [(n * 1000, (32, 32), 0.5) for n in range(1, 8)])
    refs = list_checkpoints(run)
    kimg = lambda rs: [r.n_images_shown // 1000 for r in rs]  # noqa: E731
    assert kimg(pick_checkpoints(refs, every=3)) == [1, 4, 7]
    assert kimg(pick_checkpoints(refs, last=2)) == [6, 7]
    assert kimg(pick_checkpoints(refs, every=2, last=2)) == [5, 7]


def test_generated_set_is_balanced_seeded_batch_independent_and_bounded() -> None:
    sampler = FakeSampler(0, (8, 8), 1.0)
    small = GeneratedImageSet(sampler, n_per_view=4, seed=10, source_hash="h", name="g", cache_max_bytes=1 << 20)
    assert small.view_labels().tolist() == [0] * 4 + [1] * 4
    a = list(small.iter_batches(3))
    assert a[0].ids[:2] == ["CC-000000", "CC-000001"] and a[-1].ids[-1] == "MLO-000003"
    expected = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(10 + 5))
    assert torch.equal(torch.cat([b.images for b in a])[5], expected)
    n_calls = len(sampler.calls)
    again = list(small.iter_batches(3))  # fits the budget: served from memory
    assert len(sampler.calls) == n_calls and all(torch.equal(x.images, y.images) for x, y in zip(a, again, strict=True))
    big = GeneratedImageSet(sampler, n_per_view=4, seed=10, source_hash="h", name="g", cache_max_bytes=100)
    other = torch.cat([b.images for b in big.iter_batches(5)])
    list(big.iter_batches(5))
    assert len(sampler.calls) == n_calls + 4  # over budget: regenerated (2 batches x 2 passes)
    assert torch.equal(other, torch.cat([b.images for b in a]))
    assert [b.images.shape[-1] for b in big.iter_batches(8, reduction=2)] == [4]


def test_bad_runs_are_one_line_errors_naming_the_path(tmp_path: Path) -> None:
    fakes = Backends(_real())
    with pytest.raises(BadInputError, match="nowhere: not a run directory"):
        score_run(tmp_path / "nowhere", settings=SETTINGS, progress=False, backends=fakes.backends())
    run = _make_run(tmp_path, [])
    with pytest.raises(BadInputError, match="checkpoints: holds no checkpoints"):
        score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    save_torch_atomic(run / "checkpoints" / checkpoint_name(5), {"n": 5, "res": [24, 24], "brightness": 1.0})
    with pytest.raises(BadInputError, match="data: real images are 32x32, not a power-of-two multiple of the generator's 24x24"):
        score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
    write_json_atomic(run / "config.json", {"dataset_path": str(tmp_path / "gone")})
    with pytest.raises(BadInputError, match="gone: the run's real dataset"):
        score_run(run, settings=SETTINGS, progress=False, backends=fakes.backends())
