"""Checkpoints: atomic `torch.save` of plain state (tensors, numbers, strings, lists, dicts), loaded
with weights_only=True, validated on load, pruned to the last K plus periodic keepers.

Keys of a checkpoint dict: format, version, n_images_shown, tick, stage, alpha, phase (the schedule
phase key [stage, "stable"|"transition"] of the last step, so optimizer resets repeat on resume),
config (TrainConfig as a dict), dataset_hash, G, D, G_ema (state dicts), opt_G, opt_D (Adam state
dicts), rng {scheme, seed, counter} and time_s (training seconds so far).

Randomness is counter-based: every draw of a step comes from a torch.Generator seeded by
(seed, images shown, rank, stream), and the data order from (seed, epoch), so (seed, counter) is
the full RNG state and resuming reproduces the uninterrupted run bit for bit on CPU.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import load_torch_safe, save_torch_atomic
from mammoeval.core.rundir import CHECKPOINT_DIR, checkpoint_name, list_checkpoints

CKPT_FORMAT = "mammoeval-train-checkpoint"
CKPT_VERSION = 1
RNG_SCHEME = "SeedSequence(seed, spawn_key=(Stream.TRAIN_STEP, n_images_shown, rank))"
"""How the per-step random draws derive from (seed, counter); a run resumes only under the same scheme."""
REQUIRED_KEYS = ("format", "version", "n_images_shown", "tick", "stage", "alpha", "config", "G", "D", "G_ema",
                 "opt_G", "opt_D", "rng")


def nonfinite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Return the names of floating-point tensors in a state dict that hold NaN or inf."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write `state` atomically to RUN/checkpoints/ckpt-N.pt and return the path.

    Raises:
        ValueError: a network's weights are not finite (such a checkpoint is never written).
    """
    for key in ("G", "D", "G_ema"):
        bad = nonfinite_tensors(state[key])
        if bad:
            raise ValueError(f"refusing to save a checkpoint with non-finite {key} weights ({bad[0]})")
    path = Path(run_dir) / CHECKPOINT_DIR / checkpoint_name(int(state["n_images_shown"]))
    save_torch_atomic(path, {"format": CKPT_FORMAT, "version": CKPT_VERSION, **state})
    return path


def load_checkpoint(path: str | Path, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Return a checkpoint dict loaded with weights_only=True and checked.

    Raises:
        BadInputError: missing, truncated or foreign file, missing keys, or non-finite weights.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "no such checkpoint file")
    try:
        ckpt = load_torch_safe(path, map_location=map_location)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInputError(path, f"corrupt or unreadable checkpoint ({reason[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise BadInputError(path, f"not a mammoeval training checkpoint (format {CKPT_FORMAT!r} expected)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise BadInputError(path, f"checkpoint lacks {missing}")
    for key in ("G", "D", "G_ema"):
        bad = nonfinite_tensors(ckpt[key])
        if bad:
            raise BadInputError(path, f"{key} weights hold NaN or inf ({bad[0]})")
    return ckpt


def prune_checkpoints(run_dir: Path, *, keep_last: int, keep_every_kimg: float | None) -> list[Path]:
    """Delete checkpoints that are neither among the newest `keep_last` nor the first of a
    `keep_every_kimg` period; return the deleted paths (None = keep everything)."""
    if keep_every_kimg is None:
        return []
    refs = list_checkpoints(run_dir)
    period = max(1, int(round(keep_every_kimg * 1000)))
    keep = {r.path for r in refs[-keep_last:]}
    seen: set[int] = set()
    for r in refs:
        bucket = r.n_images_shown // period
        if bucket not in seen:
            seen.add(bucket)
            keep.add(r.path)
    deleted = [r.path for r in refs if r.path not in keep]
    for p in deleted:
        p.unlink(missing_ok=True)
    return deleted
