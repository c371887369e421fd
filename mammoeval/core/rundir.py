"""The run-directory contract: what the trainer writes and the scorer, gate and report read.

Layout::

    RUN/
      config.json            fully resolved TrainConfig + library versions, seed, dataset path and hash
      log.jsonl              one row per training tick (LOG_KEYS)
      metrics.jsonl          optional: SWD on a small sample at each snapshot
      checkpoints/
        ckpt-NNNNNNNNNN.pt   N = images shown (10 digits); torch.save of tensors / numbers / strings
                             only, loadable with weights_only=True; written atomically
      grids/
        reals.png            real images, CC rows then MLO rows
        fakes-NNNNNNNNNN.png generated from fixed latents with G-EMA at each snapshot, CC rows then MLO rows
      scores.jsonl           one row per scored checkpoint (written by `mammoeval score`)
      scores-skipped.jsonl   one row per attempt to score a checkpoint that could not be loaded
      best.json              the selected checkpoint, rule and evidence
      gate.json              the last gate verdict (written by `mammoeval gate`)
      report/                the HTML report (written by `mammoeval report`)

Checkpoint numbers are images shown, so they sort in training order and name the schedule position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mammoeval.core.errors import BadInputError
from mammoeval.core.fsutil import read_json
from mammoeval.core.jsonl import read_jsonl

CONFIG_FILE: Final = "config.json"
LOG_FILE: Final = "log.jsonl"
METRICS_FILE: Final = "metrics.jsonl"
CHECKPOINT_DIR: Final = "checkpoints"
GRID_DIR: Final = "grids"
REALS_GRID: Final = "reals.png"
SCORES_FILE: Final = "scores.jsonl"
SCORE_SKIPS_FILE: Final = "scores-skipped.jsonl"
BEST_FILE: Final = "best.json"
GATE_FILE: Final = "gate.json"
REPORT_DIR: Final = "report"

LOG_KEYS: Final[tuple[str, ...]] = (
    "tick", "kimg", "stage", "resolution", "alpha", "loss_d", "loss_g", "gp", "grad_norm_d", "grad_norm_g",
    "drift", "ce_real", "ce_fake", "d_steps", "lr", "img_per_s", "sec_per_kimg", "time_s",
)
"""Keys of every log.jsonl row (resolution is "HxW"; ce_* = auxiliary view cross-entropy)."""

_CKPT_RE = re.compile(r"^ckpt-(\d{10})\.pt$")


def checkpoint_name(n_images_shown: int) -> str:
    """Return the checkpoint file name for a schedule position."""
    return f"ckpt-{n_images_shown:010d}.pt"


def fake_grid_name(n_images_shown: int) -> str:
    """Return the snapshot grid file name for a schedule position."""
    return f"fakes-{n_images_shown:010d}.png"


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint file in a run directory."""

    path: Path
    n_images_shown: int

    @property
    def kimg(self) -> float:
        """Thousands of images shown."""
        return self.n_images_shown / 1000.0

    @property
    def name(self) -> str:
        """File name, used as the checkpoint's key in scores.jsonl."""
        return self.path.name


def list_checkpoints(run_dir: str | Path) -> list[CheckpointRef]:
    """Return the run's checkpoints in training order (temporary files are ignored)."""
    d = Path(run_dir) / CHECKPOINT_DIR
    if not d.is_dir():
        return []
    refs = []
    for p in d.iterdir():
        m = _CKPT_RE.match(p.name)
        if m and p.is_file():
            refs.append(CheckpointRef(p, int(m.group(1))))
    return sorted(refs, key=lambda r: r.n_images_shown)


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """Read RUN/config.json.

    Raises:
        BadInputError: not a run directory, or an unreadable config.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise BadInputError(run_dir, f"not a run directory (no {CONFIG_FILE}); train one with `mammoeval train`")
    cfg = read_json(path)
    if not isinstance(cfg, dict):
        raise BadInputError(path, "expected a JSON object")
    return cfg


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Return log.jsonl rows (empty when absent)."""
    return read_jsonl(Path(run_dir) / LOG_FILE)
