"""The progressive schedule as a pure function of images shown (so resuming needs no schedule state).

Timeline (kimg = thousands of real images shown to D)::

    stage 0:  stable for phase_kimg * m_0
    stage s:  transition for transition_kimg * m_s (alpha 0 -> 1), then stable for phase_kimg * m_s
    last:     stable until total_kimg
    (m_s = phase_scale[s], or 1 when phase_scale is None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mammoeval_train.config import TrainConfig

Phase = Literal["stable", "transition"]


@dataclass(frozen=True)
class Position:
    """Where the schedule is after `n_images_shown` images.

    Attributes:
        stage: index of the highest active block (0 = base).
        alpha: fade-in weight of that block in [0, 1]; 1 when stable.
        phase: "transition" while alpha < 1, else "stable".
        resolution: (height, width) G outputs and D reads.
        minibatch: global minibatch (all ranks together).
        d_steps: D steps per G step.
        lr: learning rate of G and D.
    """

    stage: int
    alpha: float
    phase: Phase
    resolution: tuple[int, int]
    minibatch: int
    d_steps: int
    lr: float

    @property
    def phase_key(self) -> tuple[int, Phase]:
        """Changes exactly when layers are added or finish fading in (optimizer reset points)."""
        return (self.stage, self.phase)


def phase_lengths(cfg: TrainConfig, stage: int) -> tuple[float, float]:
    """Return (transition_kimg, stable_kimg) of `stage` (stage 0 has no transition)."""
    m = cfg.phase_scale[stage] if cfg.phase_scale is not None else 1.0
    return (0.0 if stage == 0 else cfg.transition_kimg * m), cfg.phase_kimg * m


def stage_and_alpha(cfg: TrainConfig, n_images_shown: int) -> tuple[int, float]:
    """Return (stage, alpha) after `n_images_shown` images; alpha is 1.0 outside transitions."""
    kimg = n_images_shown / 1000.0
    start = 0.0
    for stage in range(cfg.n_stages):
        trans, stable = phase_lengths(cfg, stage)
        if stage == cfg.n_stages - 1 or kimg < start + trans + stable:
            return (stage, (kimg - start) / trans) if kimg - start < trans else (stage, 1.0)
        start += trans + stable
    raise AssertionError("unreachable: the last stage returns")


def d_steps_at(cfg: TrainConfig, n_images_shown: int) -> int:
    """Return D steps per G step: linear from d_steps_start to d_steps_end over d_steps_ramp_kimg, rounded."""
    a, b = cfg.d_steps_ramp_kimg
    kimg = n_images_shown / 1000.0
    if b <= a:
        t = 1.0 if kimg >= a else 0.0
    else:
        t = min(max((kimg - a) / (b - a), 0.0), 1.0)
    return int(round(cfg.d_steps_start + t * (cfg.d_steps_end - cfg.d_steps_start)))


def position_at(cfg: TrainConfig, n_images_shown: int) -> Position:
    """Return the schedule position after `n_images_shown` images (pure; same on every rank)."""
    stage, alpha = stage_and_alpha(cfg, n_images_shown)
    return Position(
        stage=stage,
        alpha=alpha,
        phase="transition" if alpha < 1.0 else "stable",
        resolution=cfg.resolution(stage),
        minibatch=cfg.minibatch[stage],
        d_steps=d_steps_at(cfg, n_images_shown),
        lr=cfg.lr,
    )


def kimg_to_reach(cfg: TrainConfig, stage: int) -> float:
    """Return the kimg at which `stage` starts fading in (0 for stage 0)."""
    return sum(sum(phase_lengths(cfg, s)) for s in range(stage))
