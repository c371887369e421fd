"""SWD at snapshots: rows in metrics.jsonl only where SWD is defined, equal to the metric on the same images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mammoeval.core.fsutil import read_jsonl
from mammoeval.core.rundir import METRICS_FILE, list_checkpoints
from mammoeval.data.imageset import ImageBatch
from mammoeval.metrics.swd import SWDMetric, SWDSettings
from mammoeval_train import train
from mammoeval_train.generate import load_generator
from mammoeval_train.schedule import position_at
from mammoeval_train.snapshot_swd import read_real_sample, swd_inputs
from tests.train.trainkit import make_breast_dataset, tiny_config


@pytest.fixture(scope="module")
def swd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("swdrun")
    data = make_breast_dataset(root / "ds", size=(20, 16), n=16)
    out = root / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module-scoped: runs before the autouse one-thread fixture
    # 3 stages (5x4, 10x8, 20x16); snapshots every 2 ticks of 32 images
    try:
        train(tiny_config(swd_per_view=4), data=data, out=out, resume=False, progress=False)
    finally:
        torch.set_num_threads(before)
    return data, out


def test_rows_only_where_the_short_side_reaches_16_px(swd_run: tuple[Path, Path]) -> None:
    _, out = swd_run
    rows = read_jsonl(out / METRICS_FILE)
    cfg = tiny_config()
    ckpts = [c.n_images_shown for c in list_checkpoints(out)]
    # snapshots at 5x4 and 10x8 (short side < 16) get no row; every 20x16 snapshot gets one
    at_20x16 = [n for n in ckpts if position_at(cfg, n).stage == 2]
    assert len(at_20x16) >= 2 and len(at_20x16) < len(ckpts)
    assert [r["n_images_shown"] for r in rows] == at_20x16
    for r in rows:
        assert r["resolution"] == "20x16" and r["n_per_view"] == 4
        assert r["kimg"] == pytest.approx(r["n_images_shown"] / 1000)
        assert set(r) >= {"tick", "swd_avg", "swd_l0", "swd_floor_avg", "seconds"}
        assert "swd_l1" not in r  # 20x16 has one pyramid level of short side >= 16
        assert r["swd_avg"] == pytest.approx(r["swd_l0"]) and r["swd_avg"] > 0


def test_row_equals_the_metric_on_the_checkpoints_generator(swd_run: tuple[Path, Path]) -> None:
    data, out = swd_run
    last = list_checkpoints(out)[-1]
    row = read_jsonl(out / METRICS_FILE)[-1]
    assert row["n_images_shown"] == last.n_images_shown
    # independent path: the scorer's loader on the written checkpoint, the same seeds and reals
    gen = load_generator(last.path)
    z_views = swd_inputs(4, gen.config["latent_size"])[1]
    seeds = list(range(1_000_000, 1_000_008))
    fake = gen.generate(seeds, z_views)
    real, real_views = read_real_sample(data, reduction=1, n_per_view=4)
    m = SWDMetric(SWDSettings(seed=3, n_bootstrap=0))
    m.update(ImageBatch(real, real_views, [str(i) for i in range(8)]), real=True)
    m.update(ImageBatch(fake, z_views, [str(i) for i in range(8)]), real=False)
    assert row["swd_avg"] == pytest.approx(m.compute()["all"]["swd_avg"].value, rel=1e-5)


def test_real_sample_takes_the_first_images_of_each_view(breast_20x16: Path) -> None:
    images, views = read_real_sample(breast_20x16, reduction=2, n_per_view=3)
    assert images.shape == (6, 1, 10, 8) and views.tolist() == [0, 0, 0, 1, 1, 1]
    assert images.dtype == torch.float32 and 0.0 <= float(images.min()) and float(images.max()) <= 1.0
