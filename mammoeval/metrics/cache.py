"""Real-set statistics cached by content: the key hashes everything that changes the result.

File name: ``<cache_dir>/<metric>-<set name>-<key[:24]>.pt``, where key = SHA-256 of the real
set's content hash, the metric name, its settings (JSON, sorted keys; they include the extractor
name and weights hash where features are used) and a cache format version. Written atomically
with `save_torch_atomic`, read with `load_torch_safe` (weights_only=True). A changed image, view
label, seed or setting changes the key, so stale statistics are never reused; an unreadable file
is treated as a miss and rewritten.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mammoeval.core.fsutil import load_torch_safe, save_torch_atomic, sha256_strings

CACHE_VERSION = 2


def cache_key(content_hash: str, metric: str, settings: dict[str, Any]) -> str:
    """Return the hex key of one metric's real-set state."""
    return sha256_strings([f"mammoeval-metrics-cache/{CACHE_VERSION}", content_hash, metric,
                           json.dumps(settings, sort_keys=True, default=str)])


def cache_path(cache_dir: str | Path, set_name: str, metric: str, key: str) -> Path:
    """Return the file that holds (or will hold) the state for `key`."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", set_name)[:40] or "set"
    return Path(cache_dir) / f"{metric}-{safe}-{key[:24]}.pt"


def load_cached(path: Path) -> dict[str, Any] | None:
    """Return the cached state at `path`, or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        state = load_torch_safe(path)
    except Exception:  # a damaged cache file is a miss, recomputed and replaced
        return None
    return state if isinstance(state, dict) else None


def save_cached(path: Path, state: dict[str, Any]) -> None:
    """Write `state` (tensors, numbers, strings, lists, dicts) to `path` atomically."""
    save_torch_atomic(path, state)
