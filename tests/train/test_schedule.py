"""The schedule as a pure function of images shown; config validation; presets."""

from __future__ import annotations

import pytest

from mammoeval.core.errors import ConfigError
from mammoeval_train.config import TrainConfig, preset, validate, with_overrides
from mammoeval_train.schedule import d_steps_at, kimg_to_reach, phase_lengths, position_at, stage_and_alpha
from tests.train.trainkit import tiny_config


def test_stage_and_alpha_at_phase_boundaries() -> None:
    cfg = tiny_config(phase_kimg=1.0, transition_kimg=2.0, minibatch=(4, 4, 4), total_kimg=100.0)
    assert stage_and_alpha(cfg, 0) == (0, 1.0)
    assert stage_and_alpha(cfg, 999) == (0, 1.0)
    assert stage_and_alpha(cfg, 1000) == (1, 0.0)
    assert stage_and_alpha(cfg, 2000) == (1, 0.5)
    assert stage_and_alpha(cfg, 3000) == (1, 1.0)
    assert stage_and_alpha(cfg, 4000) == (2, 0.0)
    assert stage_and_alpha(cfg, 5500) == (2, 0.75)
    assert stage_and_alpha(cfg, 7000) == (2, 1.0)
    assert stage_and_alpha(cfg, 10**9) == (2, 1.0)
    assert kimg_to_reach(cfg, 2) == 4.0
    alphas = [stage_and_alpha(cfg, n)[1] for n in range(1000, 3000, 100)]
    assert alphas == sorted(alphas)


def test_position_phase_key_changes_at_growth_points() -> None:
    cfg = tiny_config(phase_kimg=1.0, transition_kimg=1.0, minibatch=(16, 8, 4), total_kimg=100.0)
    keys = [position_at(cfg, n).phase_key for n in (0, 999, 1000, 1999, 2000, 2999, 3000, 99_999)]
    assert keys == [(0, "stable"), (0, "stable"), (1, "transition"), (1, "transition"), (1, "stable"),
                    (1, "stable"), (2, "transition"), (2, "stable")]
    assert [position_at(cfg, n).minibatch for n in (0, 1500, 3500)] == [16, 8, 4]
    assert position_at(cfg, 3500).resolution == (20, 16)


def test_d_steps_ramp_from_one_to_five() -> None:
    cfg = TrainConfig(d_steps_start=1, d_steps_end=5, d_steps_ramp_kimg=(100.0, 500.0))
    assert [d_steps_at(cfg, k * 1000) for k in (0, 100, 200, 300, 400, 500, 10_000)] == [1, 1, 2, 3, 4, 5, 5]
    step = TrainConfig(d_steps_start=1, d_steps_end=5, d_steps_ramp_kimg=(100.0, 100.0))
    assert [d_steps_at(step, k * 1000) for k in (99, 100)] == [1, 5]


def test_paper_preset_schedule() -> None:
    cfg = preset("paper")
    assert cfg.size == (1280, 1024) and cfg.n_stages == 9 and cfg.latent_size == 512
    assert (cfg.fmap_base, cfg.fmap_max, cfg.lr, cfg.ema_beta) == (8192, 512, 0.0015, 0.999)
    assert position_at(cfg, 600_000).phase_key == (1, "transition")
    assert position_at(cfg, 10_200_000).phase_key == (8, "stable")
    assert position_at(cfg, 10_200_000).resolution == (1280, 1024)
    assert d_steps_at(cfg, 0) == 1 and d_steps_at(cfg, 10_200_000) == 5


def test_demo_preset_reaches_its_target_size_fully_faded_in() -> None:
    cfg = preset("demo")
    assert cfg.size == (80, 64)
    last = cfg.n_stages - 1
    assert kimg_to_reach(cfg, last) + phase_lengths(cfg, last)[0] < cfg.total_kimg
    end = position_at(cfg, int(cfg.total_kimg * 1000))
    assert end.resolution == (80, 64) and end.alpha == 1.0


def test_demo_preset_gives_g_one_update_per_d_step_and_small_batches_from_20x16() -> None:
    # the fix for grey 80x64 demo grids (reports/demo_run.md): never more D steps than G steps,
    # and at most 8 images per step once the 20x16 stage starts fading in
    cfg = preset("demo")
    for n in range(0, int(cfg.total_kimg * 1000) + 1, 250):
        pos = position_at(cfg, n)
        assert pos.d_steps == 1
        assert pos.stage < 2 or pos.minibatch <= 8


def test_phase_scale_stretches_each_stage_independently() -> None:
    cfg = tiny_config(phase_kimg=1.0, transition_kimg=2.0, phase_scale=(3.0, 0.5, 1.0), minibatch=(4, 4, 4),
                      total_kimg=100.0)
    # stage 0: 3 kimg stable; stage 1: 1 transition + 0.5 stable; stage 2: 2 transition, then stable
    assert phase_lengths(cfg, 0) == (0.0, 3.0) and phase_lengths(cfg, 1) == (1.0, 0.5)
    assert [kimg_to_reach(cfg, s) for s in range(3)] == [0.0, 3.0, 4.5]
    expect = [(0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (2, 0.0), (2, 0.25), (2, 1.0), (2, 1.0)]
    assert [stage_and_alpha(cfg, n) for n in (2999, 3000, 3500, 4000, 4500, 5000, 6500, 10**8)] == expect
    # None is the same as all ones
    plain = tiny_config(phase_kimg=1.0, transition_kimg=2.0, minibatch=(4, 4, 4), total_kimg=100.0)
    ones = tiny_config(phase_kimg=1.0, transition_kimg=2.0, minibatch=(4, 4, 4), total_kimg=100.0,
                       phase_scale=(1.0, 1.0, 1.0))
    assert all(stage_and_alpha(plain, n) == stage_and_alpha(ones, n) for n in range(0, 9000, 250))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"size": (81, 64)}, "base 5x4 times a power of two"),
    ({"size": (40, 64)}, "base 5x4 times a power of two"),
    ({"minibatch": (8, 8)}, "one entry per stage"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"ema_beta": 1.0}, "ema_beta"),
    ({"d_steps_ramp_kimg": (5.0, 1.0)}, "d_steps_ramp_kimg"),
    ({"phase_scale": (1.0, 1.0)}, "one factor > 0 per stage"),
    ({"phase_scale": (1.0, 0.0, 1.0)}, "one factor > 0 per stage"),
    ({"opt_reset": "always"}, "opt_reset"),
    ({"swd_per_view": -1}, "swd_per_view"),
])
def test_invalid_config_is_one_line_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with_overrides(tiny_config(), **overrides)


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="valid presets: demo, paper"):
        preset("huge")
    assert validate(preset("demo")) == preset("demo")


def test_optimizer_reset_points_follow_opt_reset() -> None:
    from mammoeval_train.loop import resets_optimizers

    both = tiny_config(phase_kimg=1.0, transition_kimg=1.0, minibatch=(4, 4, 4), total_kimg=100.0)
    once = tiny_config(phase_kimg=1.0, transition_kimg=1.0, minibatch=(4, 4, 4), total_kimg=100.0,
                       opt_reset="fade_in")
    entries = [position_at(both, n) for n in (1000, 2000, 3000, 4000)]  # each enters a new phase
    assert [resets_optimizers(both, p) for p in entries] == [True, True, True, True]
    assert [resets_optimizers(once, p) for p in entries] == [True, False, True, False]
