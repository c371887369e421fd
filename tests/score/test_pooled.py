"""Scoring with worker processes: the same rows as one process (folder and run mode), one pool per
call, the real QA scan cached once per dataset and QA setting, and the work that goes to the pool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mammoeval.score.settings import ScoreSettings
from tests.score.test_end_to_end import tiny_run  # noqa: F401  (the module-scoped trained-run fixture)

MEASURED = ("metrics", "unavailable", "memorization", "qa", "resolution", "checkpoint")


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in MEASURED:
        assert json.dumps(a[key], sort_keys=True) == json.dumps(b[key], sort_keys=True), key


def test_folder_scores_with_two_workers_equal_one_worker(phantom_dir_80x64: Path, phantom_dir_160x128: Path,
                                                         tmp_path: Path) -> None:
    from mammoeval.score.folder_mode import score_folders

    rows = {}
    for w in (1, 2):
        settings = ScoreSettings(n_bootstrap=10, batch_size=5, workers=w,
                                 metrics=("fid_offline", "kid_offline", "prdc_offline", "memorization"))
        rows[w] = score_folders(phantom_dir_160x128, phantom_dir_80x64, settings=settings, progress=False,
                                cache_dir=tmp_path / f"cache{w}")
    _same(rows[1], rows[2])
    assert rows[2]["qa"] is not None and rows[2]["timing"]["workers"] == 2 and rows[1]["timing"]["workers"] == 1
    assert rows[1]["settings"]["settings_hash"] == rows[2]["settings"]["settings_hash"]


def test_run_scores_with_two_workers_equal_one_worker_with_one_pool(tiny_run: Path, tmp_path: Path,  # noqa: F811
                                                                  monkeypatch: Any) -> None:
    import mammoeval.core.pool as parallel
    from mammoeval.score.run import score_run

    started: list[int] = []
    real_executor = parallel.ProcessPoolExecutor

    class Counting(real_executor):  # type: ignore[misc,valid-type]
        def __init__(self, *a: Any, **k: Any) -> None:
            started.append(k["max_workers"])
            super().__init__(*a, **k)

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Counting)
    rows = {}
    for w in (1, 2):
        run = tmp_path / f"run{w}"
        shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("scores.jsonl", "best.json", ".cache"))
        settings = ScoreSettings(n_per_view=4, n_bootstrap=10, batch_size=3, cache_max_mb=0, workers=w,
                                 metrics=("swd", "fid_offline", "memorization"))
        result = score_run(run, settings=settings, last=2, progress=False)
        rows[w] = result.new_rows
    assert started == [2]  # one pool for both checkpoints, none for one worker
    assert len(rows[1]) == len(rows[2]) == 2
    for a, b in zip(rows[1], rows[2], strict=True):
        _same(a, b)


def test_real_qa_scan_is_cached_once_per_dataset_and_setting(phantom_dir_80x64: Path, tmp_path: Path,
                                                             monkeypatch: Any) -> None:
    import mammoeval.qa.scan as scan_mod
    from mammoeval.score.folder_mode import score_folders

    checked: list[str] = []
    real_check = scan_mod.check_image

    def check(*args: Any, **kwargs: Any) -> Any:
        checked.append(kwargs.get("image_id", ""))
        return real_check(*args, **kwargs)

    monkeypatch.setattr(scan_mod, "check_image", check)
    settings = ScoreSettings(n_bootstrap=0, batch_size=8, workers=1, metrics=("swd",))
    first = score_folders(phantom_dir_80x64, phantom_dir_80x64, settings=settings, progress=False, cache_dir=tmp_path)
    scans = [p for p in tmp_path.glob("qa-*.json") if not p.name.startswith("qa-calibration-")]
    assert len(checked) == 32 and len(scans) == 1 and len(list(tmp_path.glob("qa-calibration-*.json"))) == 1
    checked.clear()
    second = score_folders(phantom_dir_80x64, phantom_dir_80x64, settings=settings, progress=False, cache_dir=tmp_path)
    assert len(checked) == 16  # the generated folder only
    assert json.dumps(first["qa"], sort_keys=True) == json.dumps(second["qa"], sort_keys=True)


def test_qa_cache_round_trip_and_damaged_file(phantom_dir_80x64: Path, tmp_path: Path) -> None:
    from mammoeval.data.open import open_image_set
    from mammoeval.qa.scan import QAConfig, scan_image_set
    from mammoeval.score.qa_cache import load_qa_scan, qa_cache_path, save_qa_scan

    images = open_image_set(phantom_dir_80x64)
    scan = scan_image_set(images, progress=False)
    path = qa_cache_path(tmp_path, images, QAConfig())
    assert path != qa_cache_path(tmp_path, images, QAConfig(max_height=64))  # another setting, another file
    assert load_qa_scan(path, name=images.name, n_images=len(images)) is None
    save_qa_scan(path, scan)
    back = load_qa_scan(path, name=images.name, n_images=len(images))
    assert back is not None and back.rows == scan.rows and back.summary() == scan.summary()
    assert load_qa_scan(path, name=images.name, n_images=len(images) + 1) is None
    path.write_text("{not json")
    assert load_qa_scan(path, name=images.name, n_images=len(images)) is None


def test_pool_gets_the_qa_and_features_only_where_they_pay() -> None:
    from mammoeval.metrics.suite import ExtractorSpec
    from mammoeval.qa.scan import QAConfig
    from mammoeval.score.pooled import suite_work

    offline, inception = ExtractorSpec("offline", None, "x"), ExtractorSpec("inception", "/w.pth", "h")
    assert suite_work((offline,), device="cpu", qa=QAConfig()).extractors == (offline,)
    assert suite_work((offline,), device="cpu", qa=None).extractors == ()  # cheaper here than sent
    assert suite_work((offline, inception), device="cpu", qa=None).extractors == (offline, inception)
    on_gpu = suite_work((offline, inception), device="cuda", qa=QAConfig())
    assert on_gpu.extractors == () and on_gpu.qa == QAConfig()


def test_workers_setting_is_validated_and_not_in_the_hash() -> None:
    from mammoeval.core.errors import ConfigError

    with pytest.raises(ConfigError, match="workers"):
        ScoreSettings(workers=0)
    a, b = ScoreSettings(workers=1), ScoreSettings(workers=4)
    assert a.settings_hash(metrics=("swd",), real_hash="r") == b.settings_hash(metrics=("swd",), real_hash="r")


def test_radiomics_go_to_the_pool_whatever_the_device() -> None:
    from mammoeval.score.pooled import suite_work

    assert suite_work((), device="cpu", qa=None, radiomics=("image", "breast")).radiomics == ("image", "breast")
    assert suite_work((), device="cuda", qa=None, radiomics=("breast",)).radiomics == ("breast",)
    assert suite_work((), device="cpu", qa=None).radiomics == ()


def test_worker_ships_the_radiomics_rows_frd_would_extract(phantom_dir_80x64: Path) -> None:
    import torch

    from mammoeval.data.open import open_image_set
    from mammoeval.metrics.frd import FRDMetric, FRDSettings, radiomics_key, radiomics_regions, radiomics_rows
    from mammoeval.metrics.regions import compute_breast_masks
    from mammoeval.qa.breast_mask import compute_breast_mask
    from mammoeval.score.distributed import ShardWork, compute_shard_work

    assert radiomics_regions(["swd", "frd_breast", "frd"]) == ("image", "breast")
    batch = next(open_image_set(phantom_dir_80x64).iter_batches(3))
    out = compute_shard_work(batch, ShardWork(radiomics=("image", "breast")))
    assert out[radiomics_key("image")] == radiomics_rows(batch.images, None)
    assert out[radiomics_key("breast")] == radiomics_rows(batch.images, compute_breast_masks(batch.images,
                                                                                            compute_breast_mask))
    # FRD uses shipped rows instead of extracting: rows that differ from its own extraction show it
    shipped = type(batch)(batch.images, batch.views, batch.ids,
                          {radiomics_key("image"): [{k: v + 1.0 for k, v in r.items()} for r in out[radiomics_key("image")]]})
    frd = FRDMetric(FRDSettings(n_bootstrap=0))
    assert frd._image_features(shipped) == shipped.precomputed[radiomics_key("image")]
    assert frd._image_features(batch) == out[radiomics_key("image")]
    assert torch.equal(shipped.images, batch.images)


def test_folder_frd_scores_with_two_workers_equal_one_worker(phantom_dir_80x64: Path, phantom_dir_160x128: Path,
                                                             tmp_path: Path) -> None:
    from mammoeval.score.folder_mode import score_folders

    rows = {}
    for w in (1, 2):
        settings = ScoreSettings(n_bootstrap=5, batch_size=5, workers=w, metrics=("frd", "frd_breast"))
        rows[w] = score_folders(phantom_dir_160x128, phantom_dir_80x64, settings=settings, progress=False,
                                cache_dir=tmp_path / f"cache{w}")
    _same(rows[1], rows[2])
    assert "frd" in rows[2]["metrics"]["all"] and "frd_breast" in rows[2]["metrics"]["all"]
