"""The training loop, as short functions: open the run, build or resume the state, step, tick, snapshot.

One iteration = `d_steps` D steps (each on a fresh global minibatch of reals, counted as images
shown) + one G step + the G-EMA update (ema_beta per D step, as PGGAN: beta ** d_steps at once).
The schedule position is computed from images shown at the start of each iteration; optimizers are reset whenever layers are added or finish fading in.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mammoeval
import mammoeval_train.config as train_config
from mammoeval.core import ddp
from mammoeval.core.errors import BadInputError, ConfigError, TrainingDivergedError
from mammoeval.core.fsutil import write_json_atomic, write_text_atomic
from mammoeval.core.jsonl import append_jsonl, read_jsonl
from mammoeval.core.progress import progress_bar
from mammoeval.core.rundir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    GRID_DIR,
    LOG_FILE,
    LOG_KEYS,
    METRICS_FILE,
    REALS_GRID,
    checkpoint_name,
    fake_grid_name,
    list_checkpoints,
    read_config,
)
from mammoeval.core.seeding import Stream, torch_generator
from mammoeval.data.dataset import NoImagesError, PreparedDataset
from mammoeval.data.phantom import write_phantom_dataset
from mammoeval.data.prepared import DatasetInfo, is_prepared_dataset, read_dataset_info
from mammoeval_train.augment import augment
from mammoeval_train.checkpoint import RNG_SCHEME, load_checkpoint, prune_checkpoints, save_checkpoint
from mammoeval_train.config import TrainConfig, config_from_dict, validate, with_overrides
from mammoeval_train.generate import latents_for_seeds, render_images
from mammoeval_train.loss import DLoss, GLoss, LossWeights, compute_d_loss, compute_g_loss
from mammoeval_train.networks import Discriminator, Generator, build_networks, downsample2, fade, upsample2
from mammoeval_train.reals import RealFeed
from mammoeval_train.schedule import Position, position_at
from mammoeval_train.snapshot_grids import write_view_grid
from mammoeval_train.snapshot_swd import compute_snapshot_swd

PHANTOM_DIR = "data"
RESUMABLE_FIELDS = frozenset({"total_kimg", "device", "num_workers", "precision", "channels_last", "keep_last",
                              "keep_every_kimg", "ticks_per_checkpoint", "kimg_per_tick", "preload_max_mb",
                              "swd_per_view"})
"""Config fields that may change on --resume; every other field must match the saved run."""
_STAT_NAMES = ("loss_d", "loss_g", "gp", "grad_norm_d", "grad_norm_g", "drift", "ce_real", "ce_fake")
"""Training statistics of a step, by name (log.jsonl keys)."""
_D_STAT_NAMES = ("loss_d", "gp", "grad_norm_d", "drift", "ce_real", "ce_fake")
"""The statistics averaged over the D steps of an iteration."""


@dataclass(frozen=True)
class RunSummary:
    """What a finished `train` call reached.

    Attributes:
        out: the run directory.
        n_images_shown: schedule position at the end.
        stage, resolution: the active stage and its (H, W).
        ticks: log rows written in total (this call and earlier ones).
        last_checkpoint: newest checkpoint (None if none was written).
        seconds: training time, summed over resumes.
        weights_sha256: hash of the final G, D and G-EMA weights (identical on every DDP rank).
    """

    out: Path
    n_images_shown: int
    stage: int
    resolution: tuple[int, int]
    ticks: int
    last_checkpoint: Path | None
    seconds: float
    weights_sha256: str

    @property
    def kimg(self) -> float:
        """Thousands of images shown."""
        return self.n_images_shown / 1000.0


@dataclass(frozen=True)
class RunContext:
    """Resolved facts of a run: config, dataset, directory and this process's rank."""

    cfg: TrainConfig
    out: Path
    dataset: Path
    dataset_hash: str
    reduction: int
    env: ddp.DistEnv


@dataclass
class TrainState:
    """Everything that changes while training (saved in checkpoints)."""

    G: Generator
    D: Discriminator
    G_ema: Generator
    opt_G: torch.optim.Adam
    opt_D: torch.optim.Adam
    n_images_shown: int = 0
    tick: int = 0
    phase_key: tuple[int, str] | None = None
    time_s: float = 0.0
    last_checkpoint: Path | None = None


def train(cfg: TrainConfig, *, data: Path | None, out: Path, resume: bool, progress: bool = True) -> RunSummary:
    """Train (or resume) a progressive WGAN-GP run in `out` and return where it got to.

    Args:
        cfg: the configuration (validated here); on resume only RESUMABLE_FIELDS may differ.
        data: prepared dataset at cfg.size (or a power-of-two multiple); None = the built-in phantom
            (generated once into RUN/data, or the dataset recorded in config.json on resume).
        out: run directory.
        resume: continue from the last checkpoint in `out` (required when `out` holds a run).
        progress: show a rich progress bar (rank 0 only).

    Raises:
        ConfigError: invalid config, `out` holds a run without resume, dataset size mismatch.
        BadInputError: unreadable dataset or checkpoint.
        TrainingDivergedError: a loss became NaN or infinite (the last good checkpoint is kept).
    """
    cfg = validate(cfg)
    env = ddp.init_from_env(cfg.device)
    try:
        run = open_run(cfg, data=data, out=Path(out), resume=resume, env=env, progress=progress)
        state = build_state(run, resume=resume)
        return run_loop(run, state, progress=progress)
    finally:
        ddp.shutdown(env)


def load_run_config(out: Path) -> TrainConfig:
    """Return the TrainConfig saved in RUN/config.json (what `--resume` continues)."""
    return config_from_dict(read_config(out))


# --- opening the run ---------------------------------------------------------------------------


def open_run(cfg: TrainConfig, *, data: Path | None, out: Path, resume: bool, env: ddp.DistEnv,
             progress: bool) -> RunContext:
    """Check the run directory, resolve the dataset (making the phantom if needed), write config.json."""
    has_run = (out / CONFIG_FILE).is_file()
    if has_run and not resume:
        raise ConfigError(f"{out} already holds a run ({CONFIG_FILE}); pass --resume to continue it or choose another --out")
    if resume and not has_run:
        raise BadInputError(out, f"nothing to resume (no {CONFIG_FILE}); start the run without --resume")
    saved = read_config(out) if resume else None
    if saved is not None:
        _check_resumable(cfg, saved, out)
    for b in cfg.minibatch:
        if b % env.world_size:
            raise ConfigError(f"minibatch {b} is not divisible by the {env.world_size} ranks")
    dataset = _resolve_dataset(cfg, data=data, out=out, saved=saved, env=env, progress=progress)
    info = read_dataset_info(dataset)
    if saved is not None and saved.get("dataset_hash") not in (None, info.content_hash):
        raise ConfigError(f"{dataset}: dataset content differs from the one this run was trained on; resume with the same --data")
    reduction = dataset_reduction(info, cfg, dataset)
    check_dataset_fits(info, cfg, dataset)
    run = RunContext(cfg=cfg, out=out, dataset=dataset.resolve(), dataset_hash=info.content_hash,
                     reduction=reduction, env=env)
    if env.is_main:
        write_json_atomic(out / CONFIG_FILE, run_config_dict(run))
    ddp.barrier(env)
    return run


def _check_resumable(cfg: TrainConfig, saved: dict[str, Any], out: Path) -> None:
    old = config_from_dict(saved).to_dict()
    new = cfg.to_dict()
    diffs = sorted(k for k in new if k not in RESUMABLE_FIELDS and old.get(k) != new[k])
    if diffs:
        raise ConfigError(f"{out / CONFIG_FILE}: --resume with a different config ({', '.join(diffs)}); "
                          "omit --preset to continue the saved config")


def _resolve_dataset(cfg: TrainConfig, *, data: Path | None, out: Path, saved: dict[str, Any] | None,
                     env: ddp.DistEnv, progress: bool) -> Path:
    if data is not None:
        return Path(data)
    if saved is not None and saved.get("dataset_path"):
        return Path(saved["dataset_path"])
    root = out / PHANTOM_DIR
    if env.is_main and not is_prepared_dataset(root):
        write_phantom_dataset(root, n=cfg.phantom_n, size=cfg.size, seed=cfg.seed, progress=progress)
    ddp.barrier(env)
    return root


def dataset_reduction(info: DatasetInfo, cfg: TrainConfig, dataset: Path) -> int:
    """Return r such that the dataset size is r * cfg.size with r a power of two.

    Raises:
        ConfigError: naming the dataset, when no such r exists.
    """
    h, w = info.size
    th, tw = cfg.size
    r = h // th if th else 0
    if r < 1 or h != r * th or w != r * tw or r & (r - 1):
        raise ConfigError(f"{dataset}: dataset size {h}x{w} is not the target size {th}x{tw} "
                          "times a power of two; prepare it with --size matching the config")
    return r


def check_dataset_fits(info: DatasetInfo, cfg: TrainConfig, dataset: Path) -> None:
    """Refuse, before any training, a dataset the view-conditioned trainer cannot learn from.

    Raises:
        BadInputError: naming the dataset, when it lacks CC or MLO images (G is conditioned on
            both views and D classifies them) or holds fewer images than the largest minibatch.
    """
    missing = [v for v in ("CC", "MLO") if info.counts.get(f"view:{v}", 0) < 1]
    if missing:
        raise BadInputError(dataset, f"no {' or '.join(missing)} images ({info.n_images} in all); view-conditioned "
                            "training needs both CC and MLO views")
    if info.n_images < max(cfg.minibatch):
        raise BadInputError(dataset, f"{info.n_images} images, fewer than one minibatch ({max(cfg.minibatch)}); "
                            "add images or lower the minibatch")


def run_config_dict(run: RunContext) -> dict[str, Any]:
    """Return the config.json content: TrainConfig fields plus dataset, versions and derived facts."""
    cfg = run.cfg
    return {
        **cfg.to_dict(),
        "dataset_path": str(run.dataset),
        "dataset_hash": run.dataset_hash,
        "dataset_reduction": run.reduction,
        "world_size": run.env.world_size,
        "n_stages": cfg.n_stages,
        "resolutions": [list(cfg.resolution(s)) for s in range(cfg.n_stages)],
        "channels": [cfg.channels(s) for s in range(cfg.n_stages)],
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "mammoeval": mammoeval.__version__,
                     "python": platform.python_version()},
    }


# --- state ---------------------------------------------------------------------------------------


def make_optimizers(G: Generator, D: Discriminator, lr: float) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Return fresh Adam optimizers (betas 0, 0.99; eps 1e-8) for G and D."""
    kw: dict[str, Any] = {"lr": lr, "betas": (0.0, 0.99), "eps": 1e-8}
    return torch.optim.Adam(G.parameters(), **kw), torch.optim.Adam(D.parameters(), **kw)


def resets_optimizers(cfg: TrainConfig, pos: Position) -> bool:
    """Return True when entering phase `pos.phase_key` resets Adam (see TrainConfig.opt_reset)."""
    return cfg.opt_reset == "fade_in_and_stable" or pos.phase == "transition"


def build_state(run: RunContext, *, resume: bool) -> TrainState:
    """Return fresh networks and optimizers, or those of the last checkpoint when resuming."""
    cfg, dev = run.cfg, run.env.device
    G, D = build_networks(cfg)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    G, D = G.to(dev).to(memory_format=fmt), D.to(dev).to(memory_format=fmt)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_G, opt_D = make_optimizers(G, D, cfg.lr)
    state = TrainState(G=G, D=D, G_ema=G_ema, opt_G=opt_G, opt_D=opt_D)
    refs = list_checkpoints(run.out) if resume else []
    if refs:
        ckpt = load_checkpoint(refs[-1].path, map_location=dev)
        scheme = ckpt["rng"].get("scheme") if isinstance(ckpt["rng"], dict) else None
        if scheme != RNG_SCHEME:
            raise BadInputError(refs[-1].path, f"made with random-stream scheme {scheme!r}, not {RNG_SCHEME!r}: "
                                               "it cannot be resumed reproducibly; train into a new --out")
        _load_into(state, ckpt)
        state.last_checkpoint = refs[-1].path
    if resume and run.env.is_main:
        _truncate_log(run.out / LOG_FILE, state.tick)
        _truncate_log(run.out / METRICS_FILE, state.tick)
    return state


def _load_into(state: TrainState, ckpt: dict[str, Any]) -> None:
    state.G.load_state_dict(ckpt["G"])
    state.D.load_state_dict(ckpt["D"])
    state.G_ema.load_state_dict(ckpt["G_ema"])
    state.opt_G.load_state_dict(ckpt["opt_G"])
    state.opt_D.load_state_dict(ckpt["opt_D"])
    state.n_images_shown = int(ckpt["n_images_shown"])
    state.tick = int(ckpt["tick"])
    phase = ckpt.get("phase")
    state.phase_key = (int(phase[0]), str(phase[1])) if phase else None
    state.time_s = float(ckpt.get("time_s", 0.0))


def _truncate_log(path: Path, tick: int) -> None:
    """Drop log.jsonl / metrics.jsonl rows written after the checkpoint we resume from (they are written again)."""
    if not path.exists():
        return
    kept = [r for r in read_jsonl(path) if int(r.get("tick", 0)) <= tick]
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def weights_digest(state: TrainState) -> str:
    """Return the SHA-256 over G, D and G-EMA weights (state-dict order)."""
    h = hashlib.sha256()
    for net in (state.G, state.D, state.G_ema):
        for k, v in net.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# --- one iteration -------------------------------------------------------------------------------


def _autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")


def _grad_norm(module: torch.nn.Module) -> torch.Tensor:
    norms = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def fade_reals(real: torch.Tensor, pos: Position) -> torch.Tensor:
    """Return reals cross-faded like G's output: lerp(upsample(downsample(x)), x, alpha) while fading in."""
    if pos.stage == 0 or pos.alpha >= 1.0:
        return real
    return fade(upsample2(downsample2(real)), real, pos.alpha)


def _d_step(state: TrainState, run: RunContext, pos: Position, real: torch.Tensor, views: torch.Tensor,
            z: torch.Tensor, mix: torch.Tensor, weights: LossWeights, gen: torch.Generator) -> tuple[DLoss, torch.Tensor]:
    cfg, env = run.cfg, run.env
    state.opt_D.zero_grad(set_to_none=True)
    with torch.no_grad(), _autocast(cfg, env.device):
        fake = state.G(z, views, pos.stage, pos.alpha)
    if cfg.augment:
        real, fake = augment(real, cfg.augment, gen), augment(fake.float(), cfg.augment, gen)
    with _autocast(cfg, env.device):
        loss = compute_d_loss(state.D, real, views, fake.float(), views, mix, stage=pos.stage, alpha=pos.alpha,
                              weights=weights)
    loss.total.backward()
    ddp.all_reduce_grads(state.D.parameters(), env)
    norm = _grad_norm(state.D)
    state.opt_D.step()
    return loss, norm


def _g_step(state: TrainState, run: RunContext, pos: Position, z: torch.Tensor, views: torch.Tensor,
            weights: LossWeights, gen: torch.Generator) -> tuple[GLoss, torch.Tensor]:
    cfg, env = run.cfg, run.env
    state.D.requires_grad_(False)
    state.opt_G.zero_grad(set_to_none=True)
    with _autocast(cfg, env.device):
        fake = state.G(z, views, pos.stage, pos.alpha)
        if cfg.augment:
            fake = augment(fake.float(), cfg.augment, gen)
        loss = compute_g_loss(state.D, fake.float(), views, stage=pos.stage, alpha=pos.alpha, weights=weights)
    loss.total.backward()
    ddp.all_reduce_grads(state.G.parameters(), env)
    norm = _grad_norm(state.G)
    state.opt_G.step()
    state.D.requires_grad_(True)
    return loss, norm


@torch.no_grad()
def update_ema(G_ema: Generator, G: Generator, beta: float) -> None:
    """Move every G-EMA parameter toward G: ema = beta * ema + (1 - beta) * g."""
    torch._foreach_lerp_(list(G_ema.parameters()), [p.detach() for p in G.parameters()], 1.0 - beta)


def train_step(state: TrainState, run: RunContext, pos: Position, feed: RealFeed, weights: LossWeights) -> dict[str, float]:
    """Run one iteration (d_steps D steps, one G step, EMA) and return its statistics by name
    (_STAT_NAMES; D terms averaged over the D steps; all averaged over ranks). Advances
    state.n_images_shown."""
    cfg, env = run.cfg, run.env
    dev = env.device
    gen = torch_generator(cfg.seed, Stream.TRAIN_STEP, state.n_images_shown, env.rank)
    b = pos.minibatch // env.world_size
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    d_terms = torch.zeros(len(_D_STAT_NAMES), device=dev)
    for _ in range(pos.d_steps):
        real, views = feed.next()
        real = fade_reals(real, pos).contiguous(memory_format=fmt)
        z = torch.randn(b, cfg.latent_size, generator=gen).to(dev)
        mix = torch.rand(b, 1, 1, 1, generator=gen).to(dev)
        dl, norm = _d_step(state, run, pos, real, views, z, mix, weights, gen)
        d_terms += torch.stack([dl.total.detach(), dl.gp, norm, dl.drift, dl.ce_real, dl.ce_fake])
        state.n_images_shown += pos.minibatch
    d_terms /= pos.d_steps
    z = torch.randn(b, cfg.latent_size, generator=gen).to(dev)
    if cfg.g_views == "dataset":
        g_views = feed.sample_views(b, gen)
    else:
        g_views = torch.randint(0, 2, (b,), generator=gen).to(dev)
    gl, norm_g = _g_step(state, run, pos, z, g_views, weights, gen)
    update_ema(state.G_ema, state.G, cfg.ema_beta ** pos.d_steps)
    named = dict(zip(_D_STAT_NAMES, d_terms, strict=True))
    named.update(loss_g=gl.total.detach(), grad_norm_g=norm_g)
    stats = torch.stack([named[k].float() for k in _STAT_NAMES])
    reduced = ddp.all_reduce_mean(stats, env).cpu().tolist()
    return dict(zip(_STAT_NAMES, reduced, strict=True))


def _diverged(stats: dict[str, float], state: TrainState) -> TrainingDivergedError:
    what = "NaN" if any(math.isnan(v) for v in stats.values()) else "infinite"
    names = [n for n, v in stats.items() if not math.isfinite(v)]
    last = state.last_checkpoint if state.last_checkpoint is not None else "none (no checkpoint written yet)"
    return TrainingDivergedError(f"loss became {what} at tick {state.tick + 1} (kimg {state.n_images_shown / 1000:.3f}; "
                                 f"{', '.join(names)}); last good checkpoint: {last}")


# --- ticks and snapshots -------------------------------------------------------------------------


@dataclass
class _TickStats:
    start_img: int
    t0: float = field(default_factory=time.perf_counter)
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_STAT_NAMES, 0.0))
    n: int = 0

    def add(self, stats: dict[str, float]) -> None:
        for name in _STAT_NAMES:
            self.sums[name] += stats[name]
        self.n += 1


def log_row(state: TrainState, pos: Position, acc: _TickStats, seconds: float) -> dict[str, Any]:
    """Return the log.jsonl row (exactly LOG_KEYS) closing the current tick."""
    shown = state.n_images_shown - acc.start_img
    row: dict[str, Any] = {name: total / max(acc.n, 1) for name, total in acc.sums.items()}
    row.update(
        tick=state.tick, kimg=state.n_images_shown / 1000.0, stage=pos.stage,
        resolution=f"{pos.resolution[0]}x{pos.resolution[1]}", alpha=pos.alpha, d_steps=pos.d_steps, lr=pos.lr,
        img_per_s=shown / seconds if seconds > 0 else 0.0,
        sec_per_kimg=seconds / (shown / 1000.0) if shown else 0.0, time_s=state.time_s,
    )
    return {k: row[k] for k in LOG_KEYS}


def grid_inputs(cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the fixed grid latents [2n, latent] (seeds 0..2n-1) and views [2n] (n CC then n MLO)."""
    n = cfg.grid_per_view
    z = latents_for_seeds(range(2 * n), cfg.latent_size)
    return z, torch.tensor([0] * n + [1] * n, dtype=torch.int64)


def write_reals_grid(run: RunContext) -> None:
    """Write grids/reals.png from the first grid_per_view images of each view, at the target size."""
    cfg = run.cfg
    parts = []
    for view in ("CC", "MLO"):
        try:
            ds = PreparedDataset(run.dataset, reduction=run.reduction, views=(view,))
        except NoImagesError:
            parts.append(torch.zeros(0, 1, *cfg.size))
            continue
        parts.append(torch.stack([ds[i][0] for i in range(min(cfg.grid_per_view, len(ds)))]))
    write_view_grid(run.out / GRID_DIR / REALS_GRID, parts[0], parts[1], cols=cfg.grid_cols,
                    tile=cfg.grid_tile or cfg.size)


def snapshot(run: RunContext, state: TrainState) -> Path:
    """Write the checkpoint and the fakes grid (rank 0), prune old checkpoints; return the checkpoint path."""
    cfg = run.cfg
    pos = position_at(cfg, state.n_images_shown)
    path = run.out / CHECKPOINT_DIR / checkpoint_name(state.n_images_shown)
    if run.env.is_main:
        path = save_checkpoint(run.out, {
            "n_images_shown": state.n_images_shown, "tick": state.tick, "stage": pos.stage, "alpha": pos.alpha,
            "phase": list(state.phase_key) if state.phase_key else None, "config": cfg.to_dict(),
            "dataset_hash": run.dataset_hash, "G": state.G.state_dict(), "D": state.D.state_dict(),
            "G_ema": state.G_ema.state_dict(), "opt_G": state.opt_G.state_dict(), "opt_D": state.opt_D.state_dict(),
            "rng": {"scheme": RNG_SCHEME, "seed": cfg.seed, "counter": state.n_images_shown},
            "time_s": state.time_s,
        })
        z, views = grid_inputs(cfg)
        imgs = render_images(state.G_ema, z, views, stage=pos.stage, alpha=pos.alpha, device=run.env.device)
        write_view_grid(run.out / GRID_DIR / fake_grid_name(state.n_images_shown), imgs[views == 0], imgs[views == 1],
                        cols=cfg.grid_cols, tile=cfg.grid_tile or cfg.size)
        prune_checkpoints(run.out, keep_last=cfg.keep_last, keep_every_kimg=cfg.keep_every_kimg)
        if cfg.swd_per_view > 0:
            write_snapshot_swd(run, state, pos)
    ddp.barrier(run.env)
    state.last_checkpoint = path
    return path


def write_snapshot_swd(run: RunContext, state: TrainState, pos: Position) -> None:
    """Append one SWD row for the current G-EMA to RUN/metrics.jsonl (nothing when it cannot be computed)."""
    cfg = run.cfg
    row = compute_snapshot_swd(state.G_ema, dataset=run.dataset, reduction=run.reduction << (cfg.n_stages - 1 - pos.stage),
                               stage=pos.stage, alpha=pos.alpha, n_per_view=cfg.swd_per_view,
                               latent_size=cfg.latent_size, seed=cfg.seed, device=run.env.device)
    if row is not None:
        append_jsonl(run.out / METRICS_FILE, {"kimg": state.n_images_shown / 1000.0,
                                              "n_images_shown": state.n_images_shown, "tick": state.tick, **row})



def _describe(state: TrainState, pos: Position, stats: dict[str, float]) -> str:
    h, w = pos.resolution
    return (f"kimg {state.n_images_shown / 1000:8.1f} | stage {pos.stage} {h}x{w} a={pos.alpha:.2f} | "
            f"D {stats['loss_d']:+.3f} G {stats['loss_g']:+.3f}")


def run_loop(run: RunContext, state: TrainState, *, progress: bool = True) -> RunSummary:
    """Train from state.n_images_shown to cfg.total_kimg, logging ticks and writing snapshots."""
    cfg, env = run.cfg, run.env
    total = int(round(cfg.total_kimg * 1000))
    tick_imgs = max(1, int(round(cfg.kimg_per_tick * 1000)))
    weights = LossWeights(cfg.gp_weight, cfg.gp_target, cfg.drift_weight, cfg.aux_weight)
    if env.is_main and not (run.out / GRID_DIR / REALS_GRID).is_file():
        write_reals_grid(run)
    feed: RealFeed | None = None
    feed_stage = -1
    acc = _TickStats(state.n_images_shown)
    with progress_bar("training", total=total, completed=state.n_images_shown, enabled=progress and env.is_main) as bar:
        while state.n_images_shown < total:
            pos = position_at(cfg, state.n_images_shown)
            if pos.phase_key != state.phase_key:
                if resets_optimizers(cfg, pos):
                    state.opt_G, state.opt_D = make_optimizers(state.G, state.D, cfg.lr)
                state.phase_key = pos.phase_key
            if pos.stage != feed_stage:
                feed = RealFeed(run.dataset, reduction=run.reduction << (cfg.n_stages - 1 - pos.stage),
                                batch_global=pos.minibatch, env=env, seed=cfg.seed, start=state.n_images_shown,
                                preload_max_mb=cfg.preload_max_mb, num_workers=cfg.num_workers)
                feed_stage = pos.stage
            assert feed is not None
            stats = train_step(state, run, pos, feed, weights)
            if not all(math.isfinite(v) for v in stats.values()):
                raise _diverged(stats, state)
            acc.add(stats)
            bar.update(completed=state.n_images_shown, description=_describe(state, pos, stats))
            if state.n_images_shown - acc.start_img >= tick_imgs or state.n_images_shown >= total:
                acc = _close_tick(run, state, pos, acc, final=state.n_images_shown >= total)
    pos = position_at(cfg, state.n_images_shown)
    return RunSummary(out=run.out, n_images_shown=state.n_images_shown, stage=pos.stage, resolution=pos.resolution,
                      ticks=state.tick, last_checkpoint=state.last_checkpoint, seconds=state.time_s,
                      weights_sha256=weights_digest(state))


def _close_tick(run: RunContext, state: TrainState, pos: Position, acc: _TickStats, *, final: bool) -> _TickStats:
    seconds = time.perf_counter() - acc.t0
    state.tick += 1
    state.time_s += seconds
    if run.env.is_main:
        append_jsonl(run.out / LOG_FILE, log_row(state, pos, acc, seconds))
    if final or state.tick % run.cfg.ticks_per_checkpoint == 0:
        snapshot(run, state)
    return _TickStats(state.n_images_shown)


def resolve_config(preset_name: str | None, *, out: Path, resume: bool, **overrides: Any) -> TrainConfig:
    """Return the config a `mammoeval train` call means: the named preset (default "demo"), or on
    --resume without a preset the one saved in RUN/config.json; then the non-None `overrides`.

    Raises:
        ConfigError: unknown preset or invalid override.
    """
    if resume and preset_name is None and (out / CONFIG_FILE).is_file():
        base = load_run_config(out)
    else:
        base = train_config.preset(preset_name or "demo")  # looked up at call time: tests substitute presets
    return with_overrides(base, **overrides)
