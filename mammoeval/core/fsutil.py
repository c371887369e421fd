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

import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.filekind import check_regular_file, file_kind_problem

# The JSON-lines writer and reader live in `mammoeval.core.jsonl`; these names stay importable from here.
from mammoeval.core.jsonl import append_jsonl, json_default, read_jsonl

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Yield a temporary file that replaces `path` atomically when the block exits cleanly.

    On an exception the temporary file is removed and `path` is untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports 'w' and 'wb', got {mode!r}")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _unwritable(path, e) from None
    try:
        f: IO[Any]
        f = os.fdopen(fd, "wb") if mode == "wb" else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise _unwritable(path, e) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _unwritable(path: Path, e: OSError) -> Exception:
    """Return the one-line error for a destination that cannot be written (a folder, no space, ...)."""
    return BadInputError(path, f"cannot write here ({e.strerror or e})")


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
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True, default=json_default) + "\n")


def save_torch_atomic(path: str | Path, obj: Any) -> None:
    """`torch.save` `obj` (tensors, dicts, numbers, strings only) to `path` atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def load_torch_safe(path: str | Path, *, map_location: Any = "cpu") -> Any:
    """Load a `torch.save` file with `weights_only=True` (a file cannot run code)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def read_json(path: str | Path) -> Any:
    """Return the parsed content of a JSON file.

    Raises:
        BadInputError: the file cannot be read or is not valid JSON (one line naming it).
    """
    problem = file_kind_problem(path)
    if problem is not None and problem != "no such file":
        raise BadInputError(path, problem)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BadInputError(path, f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise BadInputError(path, "not valid JSON (nested too deeply)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(path, f"unreadable ({e})") from None


def printable_path(path: str | Path) -> str:
    """Return a path as text that encodes to UTF-8: bytes of a non-UTF-8 file name become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


TEMP_SUFFIX = ".tmp"
"""Temporary files of `atomic_open` are named ``.<target name>.<random>.tmp`` in the target's folder."""


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file left by an interrupted atomic write."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX) and len(name) > len(TEMP_SUFFIX) + 1


def remove_orphan_temps(root: str | Path, *, extra: Iterable[str] = ()) -> list[Path]:
    """Delete temporary files of interrupted atomic writes under `root` (recursively); return them.

    Call it only on a folder this process owns while nothing else writes there (e.g. at the start
    of `prepare` on its output folder): a live writer's temporary file would be removed too.

    Args:
        root: folder to clean (absent = nothing to do).
        extra: further file names (not paths) to treat as temporary, e.g. ``lowres.npy.tmp``.
    """
    names = set(extra)
    removed: list[Path] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if is_temp_name(name) or name in names:
                p = Path(dirpath) / name
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
    return removed


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


__all__ = ["append_jsonl", "atomic_open", "check_regular_file", "file_kind_problem", "is_temp_name",
           "load_torch_safe", "printable_path", "read_json", "read_jsonl", "remove_orphan_temps", "save_torch_atomic",
           "sha256_file", "sha256_strings", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]
