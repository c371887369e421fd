"""Training survives SIGKILL: killed before its first checkpoint, killed between checkpoints, and
killed in the middle of a log append, each resume continues from the last checkpoint with an intact
log, and the end result is bit-identical to a run that was never interrupted (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mammoeval.core.rundir import LOG_FILE, LOG_KEYS, list_checkpoints, read_log
from mammoeval_train import train
from tests.train.trainkit import make_breast_dataset, tiny_config

REPO = Path(__file__).resolve().parents[2]
TOTAL_KIMG = 0.192
"""The final resume trains to this many kimg (6 ticks of 32 images, a checkpoint every 2 ticks)."""
SCRIPT = (
    "import sys, torch; torch.set_num_threads(1);"
    "from pathlib import Path; from tests.train.trainkit import tiny_config; from mammoeval_train import train;"
    "train(tiny_config(total_kimg=50.0), data=Path(sys.argv[1]), out=Path(sys.argv[2]),"
    " resume=sys.argv[3] == '1', progress=False)"
)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """One intra-op thread, as in the killed subprocesses: bit-identity needs the same reductions."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_breast_dataset(tmp_path_factory.mktemp("kill") / "ds", size=(20, 16))


def _log_lines(out: Path) -> int:
    p = out / LOG_FILE
    return p.read_bytes().count(b"\n") if p.is_file() else 0


def _train_until(dataset: Path, out: Path, *, resume: bool, ready: Callable[[], bool]) -> None:
    """Start training in a subprocess and SIGKILL it as soon as `ready()` holds."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(dataset), str(out), "1" if resume else "0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert ready(), "the kill point was not reached before the deadline"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _check_log(out: Path) -> list[dict[str, object]]:
    rows = read_log(out)
    assert [r["tick"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(set(r) == set(LOG_KEYS) for r in rows)
    assert (out / LOG_FILE).read_bytes().endswith(b"\n")
    return rows


def test_sigkill_at_several_points_then_resume_matches_an_uninterrupted_run(dataset: Path, tmp_path: Path) -> None:
    reference = train(tiny_config(total_kimg=TOTAL_KIMG), data=dataset, out=tmp_path / "ref", resume=False,
                      progress=False)
    out = tmp_path / "run"
    # 1. killed right after the first log line: there may be no checkpoint yet
    _train_until(dataset, out, resume=False, ready=lambda: _log_lines(out) >= 1)
    # 2. resumed, then killed after a checkpoint and a further log line past it
    first_ckpts = len(list_checkpoints(out))
    _train_until(dataset, out, resume=True,
                 ready=lambda: len(list_checkpoints(out)) > first_ckpts and _log_lines(out) >= 2 * len(
                     list_checkpoints(out)) + 1)
    last = list_checkpoints(out)[-1]
    # 3. a kill in the middle of the next append leaves a torn last line
    with open(out / LOG_FILE, "ab") as f:
        f.write(b'{"alpha": 1.0, "d_steps": 2, "gp": 0.0')
    resumed = train(tiny_config(total_kimg=TOTAL_KIMG), data=dataset, out=out, resume=True, progress=False)
    rows = _check_log(out)
    assert any(round(float(str(r["kimg"])) * 1000) == last.n_images_shown for r in rows)
    assert rows[-1]["tick"] == reference.ticks
    assert resumed.n_images_shown == reference.n_images_shown
    assert resumed.weights_sha256 == reference.weights_sha256
    ref_rows = read_log(tmp_path / "ref")
    keys = ("tick", "kimg", "stage", "resolution", "alpha", "d_steps", "loss_d", "loss_g")
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in ref_rows]
    assert [r.name for r in list_checkpoints(out)] == [r.name for r in list_checkpoints(tmp_path / "ref")]
