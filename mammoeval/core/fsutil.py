"""Atomic writes and content hashing: the only code that renames files into place.

A write goes to a temporary file in the destination folder, is flushed and fsynced, then
`os.replace`d over the target, so a reader (or a process killed midway) sees either the old
file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mammoeval.core.errors import BadInputError

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a temporary file that replaces `path` atomically when the block exits cleanly.

    On an exception the temporary file is removed and `path` is untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports 'w' and 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        f: IO[Any]
        f = os.fdopen(fd, "wb") if mode == "wb" else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write `obj` as JSON (sorted keys, UTF-8) to `path` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True, default=_json_default) + "\n")


def save_torch_atomic(path: str | Path, obj: Any) -> None:
    """`torch.save` `obj` (tensors, dicts, numbers, strings only) to `path` atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def load_torch_safe(path: str | Path, *, map_location: Any = "cpu") -> Any:
    """Load a `torch.save` file with `weights_only=True` (a file cannot run code)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one JSON line to `path` and fsync it.

    A crash can at worst leave a final partial line, which `read_jsonl` skips.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, sort_keys=True, default=_json_default) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Return the rows of a JSON-lines file; a truncated last line (from a crash) is ignored.

    Raises:
        BadInputError: a line other than the last one is not valid JSON.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                break  # partial final line from an interrupted append
            raise BadInputError(path, f"line {i + 1} is not valid JSON ({e.msg})") from None
    return rows


def read_json(path: str | Path) -> Any:
    """Return the parsed content of a JSON file.

    Raises:
        BadInputError: the file cannot be read or is not valid JSON (one line naming it).
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BadInputError(path, f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(path, f"unreadable ({e})") from None


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_strings(parts: Iterable[str]) -> str:
    """Return the hex SHA-256 of the given strings joined by newlines (order matters)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
