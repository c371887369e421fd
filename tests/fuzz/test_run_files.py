"""Damaged prepared datasets and run directories: truncated lowres.npy, bad dataset.json and
manifest.csv, torn phantom and training state, a deleted selected checkpoint in the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import write_json_atomic
from mammoeval.core.rundir import checkpoint_name
from mammoeval.data.dataset import PreparedDataset
from mammoeval.data.prepared import LOWRES_FILE, read_manifest
from tests.fuzz import kit
from tests.train.trainkit import make_breast_dataset, tiny_config


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-image prepared dataset at 320x256 (so it has a 160x128 lowres.npy)."""
    return make_breast_dataset(tmp_path_factory.mktemp("big") / "ds", n=4, size=(320, 256))


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("keep", [0, 60, 0.5])
def test_truncated_lowres_is_one_line_naming_it_in_the_dataset_and_the_trainer(big: Path, tmp_path: Path,
                                                                              keep: float) -> None:
    from mammoeval_train import train

    ds = _copy(big, tmp_path / "ds")
    data = (ds / LOWRES_FILE).read_bytes()
    (ds / LOWRES_FILE).write_bytes(data[: int(keep if keep >= 1 or keep == 0 else len(data) * keep)])
    with pytest.raises(BadInputError, match=r"lowres\.npy: .*rerun `mammoeval data prepare`"):
        PreparedDataset(ds, reduction=2)
    assert PreparedDataset(ds, reduction=1)[0][0].shape == (1, 320, 256)  # full-size images still readable
    with pytest.raises(BadInputError, match=r"lowres\.npy"):
        train(tiny_config(total_kimg=0.016, minibatch=(4, 4, 4)), data=ds, out=tmp_path / "run", resume=False,
              progress=False)


def test_lowres_of_another_shape_is_refused(big: Path, tmp_path: Path) -> None:
    import numpy as np

    ds = _copy(big, tmp_path / "ds")
    np.save(ds / LOWRES_FILE, np.zeros((3, 160, 128), np.uint8))
    with pytest.raises(BadInputError, match=r"lowres\.npy: low-resolution array is \(3, 160, 128\)"):
        PreparedDataset(ds, reduction=4)


DATASET_JSON: list[tuple[str, Any]] = [
    ("list", []),
    ("missing_fields", {"format": "mammoeval-prepared"}),
    ("height_text", {"format": "mammoeval-prepared", "height": "320", "width": 256, "bits": 8, "n_images": 4,
                     "content_hash": "x"}),
    ("other_format", {"format": "something-else"}),
]


@pytest.mark.parametrize(("case", "info"), DATASET_JSON, ids=[d[0] for d in DATASET_JSON])
def test_bad_dataset_json_exits_2_naming_it(big: Path, tmp_path: Path, case: str, info: Any) -> None:
    ds = _copy(big, tmp_path / "ds")
    write_json_atomic(ds / "dataset.json", info)
    with pytest.raises(BadInputError, match=r"dataset\.json"):
        PreparedDataset(ds)
    kit.assert_bad_input(kit.invoke(["qa", ds, "--out", tmp_path / "qa", "--no-progress"]), "dataset.json")


MANIFESTS: list[tuple[str, bytes, str]] = [
    ("latin1", "id,file,view,laterality\nimgé,x.png,CC,L\n".encode("latin-1"), "not UTF-8"),
    ("no_columns", b"a,b\n1,2\n", "missing columns"),
    ("bad_int", b"id,file,view,laterality,orig_height\nimg,x.png,CC,L,tall\n", "line 2: bad value"),
    ("nul", b"id,file,view,laterality\n\x00\x00,x,CC,L\n", "manifest.csv"),
]


@pytest.mark.parametrize(("case", "data", "reason"), MANIFESTS, ids=[m[0] for m in MANIFESTS])
def test_bad_manifest_is_one_line_naming_it(big: Path, tmp_path: Path, case: str, data: bytes, reason: str) -> None:
    ds = _copy(big, tmp_path / "ds")
    (ds / "manifest.csv").write_bytes(data)
    try:
        read_manifest(ds)
    except BadInputError as e:
        assert "manifest.csv" in str(e) and reason in str(e) and "\n" not in str(e)
    else:
        assert case == "nul"  # csv reads NUL bytes as text: a record with an odd id, not a crash


def test_phantom_writer_resumes_past_a_torn_partial_file_and_orphan_temps(tmp_path: Path) -> None:
    from mammoeval.data.phantom import write_phantom_dataset
    from mammoeval.data.phantom.writer import PARTIAL_FILE

    ref = write_phantom_dataset(tmp_path / "ref", n=3, size=(80, 64), seed=1, progress=False)
    out = tmp_path / "out"
    write_phantom_dataset(out, n=2, size=(80, 64), seed=1, progress=False)
    (out / "dataset.json").unlink()
    (out / PARTIAL_FILE).write_bytes(b'{"id": "phantom-000000", "truth": {"vi')  # killed mid-append
    orphan = out / ".findings.json.x1y2.tmp"
    orphan.write_bytes(b"{")
    for _ in range(2):
        info = write_phantom_dataset(out, n=3, size=(80, 64), seed=1, progress=False)
        assert info.content_hash == ref.content_hash
    assert not orphan.exists()


def _run(tmp_path: Path, rows: list[dict[str, Any]], checkpoints: list[str], best: str) -> Path:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    write_json_atomic(run / "config.json", {"dataset_path": str(tmp_path / "gone"), "seed": 0, "size": [80, 64]})
    (run / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_json_atomic(run / "best.json", {"checkpoint": best})
    for name in checkpoints:
        (run / "checkpoints" / name).write_bytes(b"weights")
    return run


def test_report_never_shows_another_checkpoint_under_the_selected_name(tmp_path: Path) -> None:
    from mammoeval.report.gather import gather_run

    first, second = checkpoint_name(1000), checkpoint_name(2000)
    run = _run(tmp_path, [kit.score_row(first), kit.score_row(second)], [first], best=second)
    loaded: list[Path] = []

    def loader(path: Path) -> Any:
        loaded.append(path)
        raise AssertionError("no generator may be loaded for a missing selected checkpoint")

    data = gather_run(run, load_generator=loader, check_image=lambda *a, **k: (None, None), progress=False)
    assert loaded == []
    assert data.selected is not None and data.selected["checkpoint"] == second
    assert second in data.notes["samples"] and "no longer" in data.notes["samples"]
    assert all(not v.fakes for v in data.views)
