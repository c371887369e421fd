"""The real set's QA scan cached by content, so it is computed once per dataset and QA setting.

File: ``<cache_dir>/qa-<set name>-<key[:24]>.json``, where key = SHA-256 of the set's content hash,
`mammoeval.qa.scan.qa_rows_key(config)` (a hash of every QA setting) and a format version. The
file holds one JSON object per image (the fields of `ImageQA`) in set order; floats are written
with Python's shortest round-trip repr, so a cached scan equals the computed one exactly. Written
atomically; an unreadable or mismatched file is a miss and is rewritten.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from mammoeval.core.fsutil import sha256_strings, write_text_atomic
from mammoeval.data.imageset import ImageSet
from mammoeval.qa.scan import ImageQA, QAConfig, QAScan, qa_rows_key

QA_CACHE_VERSION = 1
_TUPLE_FIELDS = tuple(f.name for f in dataclasses.fields(ImageQA) if str(f.type).startswith("tuple"))


def qa_cache_path(cache_dir: str | Path, images: ImageSet, config: QAConfig) -> Path:
    """Return the file that holds (or will hold) the QA scan of `images` checked with `config`."""
    key = sha256_strings([f"mammoeval-qa-cache/{QA_CACHE_VERSION}", images.content_hash, qa_rows_key(config)])
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", images.name)[:40] or "set"
    return Path(cache_dir) / f"qa-{safe}-{key[:24]}.json"


def load_qa_scan(path: Path, *, name: str, n_images: int) -> QAScan | None:
    """Return the cached `QAScan` at `path` (named `name`), or None when absent, unreadable or not `n_images` rows."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        fields: list[dict[str, Any]] = [{k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in r.items()}
                                        for r in raw["rows"]]
        rows = [ImageQA(**f) for f in fields]
    except (OSError, ValueError, TypeError, KeyError):  # a damaged cache file is a miss
        return None
    return QAScan(rows, name=name) if len(rows) == n_images else None


def save_qa_scan(path: Path, scan: QAScan) -> None:
    """Write the rows of `scan` to `path` atomically."""
    # Keys in their own order (not sorted): per-detector dicts keep the detectors' order.
    write_text_atomic(path, json.dumps({"version": QA_CACHE_VERSION, "rows": [dataclasses.asdict(r) for r in scan.rows]},
                                       default=_plain) + "\n")


def _plain(value: Any) -> Any:
    """Return a NumPy scalar as the Python number or bool it holds (for json.dumps)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
