"""Append-only JSON-lines files that survive a crash: the one writer and reader of every ``*.jsonl``.

Guarantees:

- An append is a single ``write`` of the whole line including its newline on a file opened with
  ``O_APPEND``, followed by flush and fsync, so a process killed at any moment leaves at most a
  partial last line (a *torn tail*), never a damaged earlier row.
- Opening a file for append repairs a torn tail first: the bytes after the last newline are
  truncated, with one warning naming the file (the CLI prints each warning once, as one line).
  Without this the next row would be glued to the partial one and every later read would fail.
- Reading skips a torn tail (without changing the file) and rejects any other line that is not a
  JSON object, naming the file and the line.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mammoeval.core.errors import BadInputError
from mammoeval.core.filekind import check_regular_file, file_kind_problem


def _warn(message: str) -> None:
    """Warn with `message` (a `RuntimeWarning`; the CLI prints each distinct one once, as one line)."""
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def repair_tail(path: str | Path) -> int:
    """Truncate a torn last line of a JSON-lines file (bytes after the last newline); return bytes cut.

    A missing or empty file, or one ending in a newline, is left as it is (0 is returned).

    Raises:
        BadInputError: the path is not a regular file (a FIFO, a folder, a dangling link, ...).
    """
    path = Path(path)
    problem = file_kind_problem(path)
    if problem == "no such file":
        return 0
    if problem is not None:  # never open a FIFO or a device: opening it for writing blocks
        raise BadInputError(path, problem)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise BadInputError(path, f"cannot open for repair ({e.strerror or e})") from None
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) == b"\n":
            return 0
        keep = _last_newline_end(fd, size)
        os.ftruncate(fd, keep)
        os.fsync(fd)
    finally:
        os.close(fd)
    _warn(f"{path}: removed a partial last line ({size - keep} bytes) left by an interrupted write")
    return size - keep


def _last_newline_end(fd: int, size: int) -> int:
    """Return the offset just past the last b"\\n" of an open file (0 when it has none)."""
    block = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - block)
        os.lseek(fd, start, os.SEEK_SET)
        chunk = os.read(fd, end - start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


def encode_row(row: dict[str, Any], *, default: Callable[[Any], Any] | None = None) -> bytes:
    """Return one row as UTF-8 JSON (sorted keys) plus a newline."""
    return (json.dumps(row, sort_keys=True, default=default or json_default) + "\n").encode("utf-8")


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row to `path` (created with its folder when absent), crash-safely (see module doc).

    Raises:
        TypeError: the row holds a value that is not JSON serialisable (nothing is written).
        BadInputError: the file cannot be written (its folder is a file, it is a folder, no space).
    """
    path = Path(path)
    data = encode_row(row)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        raise BadInputError(path, f"cannot append here ({e.strerror or e})") from None
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write is rare (full disk, signals); finish the line
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError as e:
        raise BadInputError(path, f"cannot append here ({e.strerror or e})") from None
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Return the rows of a JSON-lines file (empty when the file is absent); a torn tail is skipped.

    Raises:
        BadInputError: the path is not a regular file, is not UTF-8, or a line other than a torn
            tail is not a JSON object (the message names the file and the line).
    """
    return [row for _, row in read_jsonl_numbered(path)]


def read_jsonl_numbered(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Return (1-based line number, row) for every row of a JSON-lines file, as `read_jsonl` reads them.

    Raises:
        BadInputError: as `read_jsonl`.
    """
    path = Path(path)
    if not path.exists():
        return []
    check_regular_file(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInputError(path, f"unreadable ({e.strerror or e})") from None
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    rows: list[tuple[int, dict[str, Any]]] = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        rows.append((i + 1, _parse_line(path, i + 1, raw)))
    if torn.strip():
        _warn(f"{path}: ignoring a partial last line left by an interrupted write")
    return rows


def _parse_line(path: Path, lineno: int, raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInputError(path, f"line {lineno} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise BadInputError(path, f"line {lineno} is not valid JSON ({e.msg})") from None
    except RecursionError:
        raise BadInputError(path, f"line {lineno} is nested too deeply to be a row") from None
    if not isinstance(obj, dict):
        raise BadInputError(path, f"line {lineno} is not a JSON object (got {type(obj).__name__})")
    return obj


def json_default(o: Any) -> Any:
    """Return the JSON form of the NumPy scalars and arrays and the paths a row may hold (`json.dumps` default)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
