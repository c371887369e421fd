"""Scoring under torch.distributed: two gloo ranks on CPU produce the same rows as one process,
only rank 0 writes, and rank 1 extracts the features and QA rows of the batches it generates; plus
the pieces that make that work (shipped features and rows stand in for local computation)."""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.score.test_end_to_end import tiny_run  # noqa: F401  (the module-scoped trained-run fixture)

MEASURED = ("metrics", "unavailable", "memorization", "qa", "resolution", "checkpoint", "checkpoint_sha256")
SETTINGS = dict(n_per_view=5, n_bootstrap=10, batch_size=3, cache_max_mb=0, workers=1)  # 4 batches/pass, regenerated per pass


def _settings() -> Any:
    from mammoeval.score.settings import ScoreSettings

    return ScoreSettings(**SETTINGS)  # type: ignore[arg-type]


def _count_per_image_work() -> tuple[dict[str, int], Any]:
    """Return (counts, undo): from now on, count the images this process passes to the offline
    extractor ("features") and to the QA check ("qa"); undo() restores both."""
    import mammoeval.qa.scan as scan_mod
    from mammoeval.metrics.offline import OfflineExtractor

    counts = {"features": 0, "qa": 0}
    real_extract, real_check = OfflineExtractor.extract, scan_mod.check_image

    def extract(self: Any, images: Any) -> Any:
        counts["features"] += int(images.shape[0])
        return real_extract(self, images)

    def check(*args: Any, **kwargs: Any) -> Any:
        counts["qa"] += 1
        return real_check(*args, **kwargs)

    def undo() -> None:
        OfflineExtractor.extract, scan_mod.check_image = real_extract, real_check  # type: ignore[method-assign]

    OfflineExtractor.extract, scan_mod.check_image = extract, check  # type: ignore[method-assign,assignment]
    return counts, undo


def _rank_main(rank: int, world: int, init_file: str, run_dir: str, out_dir: str) -> None:
    """One rank: join the gloo group, score the run, record what it returned, which files it wrote
    and how many images it extracted features of and checked."""
    import torch
    import torch.distributed as dist

    import mammoeval.score.run as run_mod

    torch.set_num_threads(1)
    counts, _ = _count_per_image_work()
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
                  "best": result.best, "counts": counts}
    except Exception as exc:  # reported to the test, which fails with the message
        report = {"error": f"{type(exc).__name__}: {exc}", "writes": writes}
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))


def _spawn_ranks(target: Any, world: int, *args: str) -> None:
    """Run `target(rank, world, *args)` in `world` spawned processes; fail if one hangs past 120 s."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=target, args=(r, world, *args)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a rank hung"


def _run_ranks(world: int, run_dir: Path, tmp: Path) -> list[dict[str, Any]]:
    _spawn_ranks(_rank_main, world, str(tmp / "init"), str(run_dir), str(tmp))
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
    counts, undo = _count_per_image_work()
    try:
        expected = score_run(single, settings=_settings(), last=2, progress=False)
    finally:
        torch.set_num_threads(threads)
        undo()
    assert len(expected.new_rows) == 2

    reports = _run_ranks(2, multi, tmp_path)
    assert reports[1]["writes"] == [] and len(reports[0]["writes"]) == 3  # 2 rows + best.json, rank 0 only
    # Rank 1 does the per-image work of every odd batch; rank 0 does the rest.
    # Generated, 10 images per checkpoint, 2 checkpoints. Suite pass, batches of 3: batches 1 and 3
    # (images 3-5 and 9), 8 feature extractions. QA pass, the scan's batches of 8: batch 1 (images 8-9),
    # 4 checks. Real, 16 phantoms at 20x16 (both checkpoints): features once (the first checkpoint
    # fills RUN/.cache), batches of 3: batches 1, 3 and 5 (images 3-5, 9-11 and 15), 7 extractions;
    # QA scan once per call and resolution, batches of 8: batch 1 (images 8-15), 8 checks.
    assert reports[1]["counts"] == {"features": 8 + 7, "qa": 4 + 8}
    assert reports[0]["counts"] == {"features": counts["features"] - 15, "qa": counts["qa"] - 12}
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


def _phantom_batch(phantoms: Path, n: int = 6) -> Any:
    from mammoeval.data.open import open_image_set

    return next(iter(open_image_set(phantoms).iter_batches(n)))


def test_batch_precomputed_entries_follow_select_view_and_must_match_the_batch() -> None:
    import torch

    from mammoeval.data.imageset import ImageBatch

    images = torch.rand(4, 1, 8, 6)
    views = torch.tensor([0, 1, 1, 0])
    feats = torch.arange(8.0).reshape(4, 2)
    batch = ImageBatch(images, views, ["a", "b", "c", "d"], {"f": feats, "rows": ["ra", "rb", "rc", "rd"]})
    mlo = batch.select_view(1)
    assert mlo.ids == ["b", "c"] and mlo.precomputed["rows"] == ["rb", "rc"]
    assert torch.equal(mlo.precomputed["f"], feats[1:3])
    assert ImageBatch(images, views, list("abcd")).precomputed == {}
    with pytest.raises(ValueError, match="one item per image"):
        ImageBatch(images, views, list("abcd"), {"f": feats[:3]})


def test_primed_memo_extractor_returns_the_shipped_features_without_extracting(phantom_dir_80x64: Path) -> None:
    import torch

    from mammoeval.data.imageset import ImageBatch
    from mammoeval.metrics.features import MemoExtractor, feature_key
    from mammoeval.metrics.offline import OfflineExtractor

    class Spy(OfflineExtractor):
        calls = 0

        def extract(self, images: torch.Tensor) -> torch.Tensor:
            Spy.calls += 1
            return super().extract(images)

    batch = _phantom_batch(phantom_dir_80x64)
    memo = MemoExtractor(Spy())
    assert not memo.prime(batch)  # nothing shipped: extracted locally
    local = memo.extract(batch.images)
    assert Spy.calls == 1 and local.shape == (6, 70)
    shipped = torch.full((6, 70), 3.0)
    other = ImageBatch(batch.images.clone(), batch.views, batch.ids, {feature_key(memo.inner): shipped})
    assert memo.prime(other)
    assert torch.equal(memo.extract(other.images), shipped) and Spy.calls == 1
    wrong = ImageBatch(batch.images.clone(), batch.views, batch.ids, {feature_key(memo.inner): shipped[:, :5]})
    with pytest.raises(ValueError, match=r"must be \[N, 70\]"):
        memo.prime(wrong)


def test_suite_metrics_use_shipped_features(phantom_dir_80x64: Path, monkeypatch: Any) -> None:
    """A set whose batches carry the offline features of OTHER images scores like those images, and
    its own pixels are never passed to the extractor (a cheap stand-in for the offline features)."""
    import torch

    from mammoeval.data.imageset import ImageBatch, TensorImageSet
    from mammoeval.data.open import open_image_set
    from mammoeval.metrics.features import feature_key
    from mammoeval.metrics.offline import OfflineExtractor
    from mammoeval.metrics.suite import compute_suite

    extracted: list[int] = []

    def cheap(self: Any, images: torch.Tensor) -> torch.Tensor:
        extracted.append(int(images.shape[0]))
        return torch.nn.functional.adaptive_avg_pool2d(images, (7, 10)).flatten(1)

    monkeypatch.setattr(OfflineExtractor, "extract", cheap)
    real = open_image_set(phantom_dir_80x64)
    images = torch.cat([x.images for x in real.iter_batches(16)])
    views = real.view_labels()
    fake_b = TensorImageSet(images.flip(-1).roll(5, dims=-2), views, name="b")  # differs from the real set
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(1))
    key = feature_key(OfflineExtractor())

    class Shipped(TensorImageSet):
        def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Any:
            for i, batch in enumerate(super().iter_batches(batch_size)):
                feats = cheap(None, fake_b.images[i * batch_size:(i + 1) * batch_size])
                yield ImageBatch(batch.images, batch.views, batch.ids, {key: feats})

    kw: dict[str, Any] = dict(metrics=("fid_offline", "kid_offline"), n_bootstrap=0, batch_size=5, progress=False)
    want = compute_suite(real, fake_b, **kw)
    extracted.clear()
    got = compute_suite(real, Shipped(noise, views, name="a"), **kw)
    assert sum(extracted) == 16 + 16  # the real set, plus the stand-in's calls for the shipped features
    for v in ("CC", "MLO", "all"):
        assert got.value("fid_offline", v) == want.value("fid_offline", v)
        assert got.value("kid_offline", v) == want.value("kid_offline", v)
    extracted.clear()
    plain = compute_suite(real, TensorImageSet(noise, views, name="a"), **kw)
    assert sum(extracted) == 32 and plain.value("fid_offline") != want.value("fid_offline")


def test_worker_results_equal_local_extraction_and_qa(phantom_dir_80x64: Path) -> None:
    import torch

    from mammoeval.data.imageset import TensorImageSet
    from mammoeval.metrics.features import feature_key
    from mammoeval.metrics.offline import OfflineExtractor
    from mammoeval.metrics.suite import build_extractor, suite_extractor_specs
    from mammoeval.qa.scan import QAConfig, qa_rows_key, scan_image_set
    from mammoeval.score.distributed import ShardWork, compute_shard_work

    batch = _phantom_batch(phantom_dir_80x64)
    specs = suite_extractor_specs(("swd", "fid_offline", "memorization"))
    assert [s.space for s in specs] == ["offline"] and isinstance(build_extractor(specs[0]), OfflineExtractor)
    assert suite_extractor_specs(("swd", "msssim")) == ()
    pre = compute_shard_work(batch, ShardWork(extractors=specs, qa=QAConfig()))
    assert torch.equal(pre[feature_key(OfflineExtractor())], OfflineExtractor().extract(batch.images))
    local = scan_image_set(TensorImageSet(batch.images, batch.views, ids=batch.ids), progress=False).rows
    assert pre[qa_rows_key(QAConfig())] == local and [r.id for r in local] == batch.ids
    assert qa_rows_key(QAConfig(max_height=640)) != qa_rows_key(QAConfig())


def test_scan_takes_shipped_rows_and_checks_batches_without_them(phantom_dir_80x64: Path, monkeypatch: Any) -> None:
    import mammoeval.qa.scan as scan_mod
    from mammoeval.data.imageset import ImageBatch, TensorImageSet
    from mammoeval.qa.scan import QAConfig, qa_rows_key, scan_image_set

    batch = _phantom_batch(phantom_dir_80x64)
    rows = scan_image_set(TensorImageSet(batch.images, batch.views, ids=batch.ids), progress=False).rows
    checked: list[str] = []
    real_check = scan_mod.check_image

    def check(*args: Any, **kwargs: Any) -> Any:
        checked.append(kwargs["image_id"])
        return real_check(*args, **kwargs)

    monkeypatch.setattr(scan_mod, "check_image", check)

    class HalfShipped(TensorImageSet):
        def iter_batches(self, batch_size: int, *, reduction: int = 1) -> Any:
            for i, b in enumerate(super().iter_batches(batch_size)):
                pre = {qa_rows_key(QAConfig()): rows[i * batch_size:(i + 1) * batch_size]} if i % 2 == 0 else {}
                yield ImageBatch(b.images, b.views, b.ids, pre)

    scan = scan_image_set(HalfShipped(batch.images, batch.views, ids=batch.ids), progress=False, batch_size=2)
    assert scan.rows == rows and checked == batch.ids[2:4]  # only the batch without rows was checked
    checked.clear()
    detailed = scan_image_set(HalfShipped(batch.images, batch.views, ids=batch.ids), progress=False, batch_size=2,
                              keep_details=2)
    assert detailed.rows == rows and checked == batch.ids and len(detailed.details) == 2


def test_rebuilt_inception_extractor_with_other_weights_is_refused(tmp_path: Path) -> None:
    from mammoeval.core.errors import BadInputError
    from mammoeval.metrics.suite import ExtractorSpec, build_extractor

    weights = tmp_path / "not-inception.pth"
    weights.write_bytes(b"not a state dict")
    with pytest.raises(BadInputError, match="not-inception.pth"):
        build_extractor(ExtractorSpec("inception", str(weights), "0" * 64))


FOLDER_MEASURED = ("metrics", "unavailable", "memorization", "qa", "resolution", "n_per_view", "fake_hash")


def _folder_settings() -> Any:
    from mammoeval.score.settings import ScoreSettings

    return ScoreSettings(metrics=("swd", "fid_offline", "prdc_offline", "memorization"), n_bootstrap=5, batch_size=3,
                         workers=1)


def _real_pass_main(rank: int, world: int, init_file: str, phantoms: str, out_dir: str, real_folder: str) -> None:
    """One rank of the file-set sharding test: rank 0 stops a pass over a real set early, then reads one
    in full; then both ranks score two folders."""
    import torch
    import torch.distributed as dist

    from mammoeval.data.imageset import TensorImageSet
    from mammoeval.data.open import open_image_set
    from mammoeval.metrics.features import feature_key
    from mammoeval.metrics.offline import OfflineExtractor
    from mammoeval.metrics.suite import suite_extractor_specs
    from mammoeval.qa.scan import QAConfig, qa_rows_key, scan_image_set
    from mammoeval.score.distributed import (
        ShardedFileImageSet,
        ShardWork,
        finish,
        score_env,
        serve_generation,
    )
    from mammoeval.score.folder_mode import score_folders
    from mammoeval.score.generated import ReducedImageSet

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    report: dict[str, Any] = {}
    try:
        env = score_env("cpu")
        if rank != 0:
            report["result"] = serve_generation(env, lambda *a, **k: None, n_per_view=1, seed=0,
                                                open_real=open_image_set)
        else:
            # 160x128 seen at 80x64 (the QA's blob detector needs a working height of about 40 px or more)
            sharded = ShardedFileImageSet(ReducedImageSet(open_image_set(real_folder), 2), env=env,
                                          path=Path(real_folder), reduction=2)
            fkey, qkey = feature_key(OfflineExtractor()), qa_rows_key(QAConfig())
            with sharded.doing(ShardWork(extractors=suite_extractor_specs(("fid_offline",)), qa=QAConfig())):
                next(iter(sharded.iter_batches(5)))
                sharded.close()  # stopped after one batch: the server's other results are drained (an
                # undrained result of this pass, for 5 images, would be refused by the next pass's batches of 3)
                batches = list(sharded.iter_batches(3))
            report["keys"] = [sorted(b.precomputed) for b in batches]
            report["plain_keys"] = [sorted(b.precomputed) for b in sharded.iter_batches(3)]  # no work: not sharded
            report["features_equal"] = [torch.equal(b.precomputed[fkey], OfflineExtractor().extract(b.images))
                                        for b in batches if b.precomputed]
            report["rows_equal"] = [b.precomputed[qkey] == scan_image_set(TensorImageSet(
                b.images, b.views, ids=b.ids), progress=False).rows for b in batches if b.precomputed]
            report["ids"] = [i for b in batches for i in b.ids]
            finish(env, "served")
        counts, undo = _count_per_image_work()  # then both ranks score two folders
        row = score_folders(real_folder, phantoms, settings=_folder_settings(), progress=False)
        undo()
        report["folder_counts"] = counts
        report["folder_row"] = {k: row[k] for k in FOLDER_MEASURED}
    except Exception as exc:  # reported to the test, which fails with the message
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"real{rank}.json").write_text(json.dumps(report))


def test_file_set_work_is_sharded_and_an_early_stop_is_drained(phantom_dir_80x64: Path, phantom_dir_160x128: Path,
                                                                tmp_path: Path) -> None:
    """Two gloo ranks: rank 1 computes the per-image work of every other batch of a real set; then
    folder scoring (real 160x128 seen at 80x64) gives the row of one process."""
    import torch

    from mammoeval.data.open import open_image_set
    from mammoeval.qa.scan import QAConfig, qa_rows_key
    from mammoeval.score.folder_mode import score_folders

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    counts, undo = _count_per_image_work()
    try:
        want = score_folders(phantom_dir_160x128, phantom_dir_80x64, settings=_folder_settings(), progress=False)
    finally:
        torch.set_num_threads(threads)
        undo()
    _spawn_ranks(_real_pass_main, 2, str(tmp_path / "init"), str(phantom_dir_80x64), str(tmp_path),
                 str(phantom_dir_160x128))
    r0, r1 = (json.loads((tmp_path / f"real{r}.json").read_text()) for r in range(2))
    assert "error" not in r0 and "error" not in r1, (r0, r1)
    assert r1["result"] == "served"
    # 16 images in batches of 3: rank 1 computes the odd batches; rank 0 keeps the pixels of all.
    shipped = sorted(["features/offline-texture-v1/offline-texture-v1", qa_rows_key(QAConfig())])
    assert r0["keys"] == [[] if b % 2 == 0 else shipped for b in range(6)]
    assert r0["plain_keys"] == [[]] * 6
    assert r0["features_equal"] == [True] * 3 and r0["rows_equal"] == [True] * 3
    assert r0["ids"] == [i for b in open_image_set(phantom_dir_160x128).iter_batches(16) for i in b.ids]
    for r in (r0, r1):
        assert json.dumps(r["folder_row"], sort_keys=True) == json.dumps(
            {k: want[k] for k in FOLDER_MEASURED}, sort_keys=True)
    # 16 real and 16 fake images; features in batches of 3 (rank 1: batches 1, 3, 5 = 7 images per set),
    # QA in the scan's batches of 8 (rank 1: batch 1 = 8 images per set).
    assert r1["folder_counts"] == {"features": 7 + 7, "qa": 8 + 8}
    assert r0["folder_counts"] == {"features": counts["features"] - 14, "qa": counts["qa"] - 16}
