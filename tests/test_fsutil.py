"""Atomic writes, JSON lines and hashing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import (
    append_jsonl,
    atomic_open,
    load_torch_safe,
    read_jsonl,
    save_torch_atomic,
    sha256_file,
    write_json_atomic,
)


def test_write_json_atomic_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "x.json"
    write_json_atomic(p, {"b": 1, "a": [1.5, "z"]})
    assert json.loads(p.read_text()) == {"a": [1.5, "z"], "b": 1}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_failed_atomic_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(p, "w") as f:
        f.write("new, half written")
        raise RuntimeError("killed midway")
    assert p.read_text() == "old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x.txt"]


def test_jsonl_skips_truncated_last_line(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    append_jsonl(p, {"tick": 0})
    append_jsonl(p, {"tick": 1})
    with open(p, "a") as f:
        f.write('{"tick": 2, "kim')  # a crash during append
    assert [r["tick"] for r in read_jsonl(p)] == [0, 1]


def test_jsonl_corrupt_middle_line_names_file(tmp_path: Path) -> None:
    p = tmp_path / "scores.jsonl"
    p.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(BadInputError, match="scores.jsonl: line 2"):
        read_jsonl(p)


def test_torch_save_load_weights_only(tmp_path: Path) -> None:
    p = tmp_path / "state.pt"
    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 7, "name": "G"}
    save_torch_atomic(p, state)
    back = load_torch_safe(p)
    assert back["step"] == 7 and back["name"] == "G"
    torch.testing.assert_close(back["w"], state["w"])


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "b.bin"
    data = bytes(range(256)) * 5000
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_read_json_names_the_file_on_bad_input(tmp_path: Path) -> None:
    from mammoeval.core.fsutil import read_json

    good = tmp_path / "best.json"
    good.write_text('{"checkpoint": "ckpt-0000001000.pt"}')
    assert read_json(good) == {"checkpoint": "ckpt-0000001000.pt"}
    bad = tmp_path / "gate.json"
    bad.write_text('{"verdict": ')
    with pytest.raises(BadInputError, match=r"gate\.json: not valid JSON \(.* at line 1\)"):
        read_json(bad)
    with pytest.raises(BadInputError, match=r"missing\.json: unreadable"):
        read_json(tmp_path / "missing.json")
