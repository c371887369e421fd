"""Trainer options beyond PGGAN and PGGAN details: replicate padding, clamped output, pixel norm of
the joined (z, view) vector, per-channel first bias, EMA per D step, G views from the dataset mix."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from mammoeval_train.config import TrainConfig
from mammoeval_train.networks import (
    EqualizedConv2d,
    build_networks,
    conv_downsample2,
    lrelu,
    pixel_norm,
    upsample2_conv,
)
from tests.train.trainkit import tiny_config


def test_replicate_padding_resampling_convs_equal_their_unfused_reference() -> None:
    conv = EqualizedConv2d(4, 6, 3, generator=torch.Generator().manual_seed(0), pad_mode="replicate")
    torch.nn.init.normal_(conv.bias, generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 4, 6, 4, generator=torch.Generator().manual_seed(2))
    w = conv.weight * conv.scale
    up = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
    up_ref = F.conv2d(F.pad(up, [1, 1, 1, 1], mode="replicate"), w, conv.bias)
    down_ref = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), w, conv.bias).reshape(2, 6, 3, 2, 2, 2).mean(dim=(3, 5))
    torch.testing.assert_close(upsample2_conv(conv, x), up_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(conv_downsample2(conv, x), down_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, [1] * 4, mode="replicate"), w, conv.bias))


def test_replicate_padding_gives_a_constant_output_for_a_constant_input() -> None:
    # zero padding makes the border of a constant image differ from its interior; replicate does not
    x = torch.full((1, 3, 6, 6), 0.7)
    rep = EqualizedConv2d(3, 2, 3, generator=torch.Generator().manual_seed(3), pad_mode="replicate")
    zero = EqualizedConv2d(3, 2, 3, generator=torch.Generator().manual_seed(3), pad_mode="zero")
    y = upsample2_conv(rep, x)
    assert torch.allclose(y, y[:, :, :1, :1].expand_as(y), atol=1e-6)
    assert not torch.allclose(zero(x)[:, :, 0, 0], zero(x)[:, :, 3, 3])


def test_clamped_output_stays_in_the_data_range_and_linear_does_not() -> None:
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(4))
    views = torch.tensor([0, 1] * 4)
    for g_output, bounded in (("clamp", True), ("linear", False)):
        G, _ = build_networks(tiny_config(g_output=g_output))
        with torch.no_grad():
            for p in G.to_rgb.parameters():
                p.mul_(5.0)  # push the output well past [-1, 1]
            x = G(z, views, 2, 1.0)
        assert bool((x.abs() <= 1.0).all()) is bounded
        assert x.abs().max() > 0.99


def test_pixel_norm_applies_to_latent_and_view_together_and_first_bias_is_per_channel() -> None:
    cfg = tiny_config()
    G, _ = build_networks(cfg)
    assert G.dense.bias is None and G.dense_bias.shape == (cfg.channels(0),)
    with torch.no_grad():
        G.dense_bias.copy_(torch.arange(cfg.channels(0), dtype=torch.float32) * 0.1)
    z = torch.randn(3, cfg.latent_size, generator=torch.Generator().manual_seed(5))
    views = torch.tensor([0, 1, 1])
    joined = torch.cat([z, F.one_hot(views, 2).float()], dim=1)
    joined = joined / joined.square().mean(dim=1, keepdim=True).add(1e-8).sqrt()
    x = F.linear(joined, G.dense.weight * G.dense.scale).reshape(3, cfg.channels(0), *cfg.base)
    x = x + torch.arange(cfg.channels(0)).float().reshape(1, -1, 1, 1) * 0.1
    x = pixel_norm(lrelu(x))
    x = pixel_norm(lrelu(G.conv(x)))
    expect = G.to_rgb[0](x).clamp(-1, 1)
    torch.testing.assert_close(G(z, views, 0, 1.0), expect, atol=1e-5, rtol=0)


def test_ema_follows_g_once_per_d_step(tmp_path: object, breast_20x16: object) -> None:
    from mammoeval.core import ddp
    from mammoeval_train.loop import RunContext, build_state, train_step
    from mammoeval_train.loss import LossWeights
    from mammoeval_train.reals import RealFeed
    from mammoeval_train.schedule import Position

    cfg = tiny_config(ema_beta=0.8)
    env = ddp.init_from_env("cpu")
    run = RunContext(cfg=cfg, out=tmp_path, dataset=breast_20x16, dataset_hash="", reduction=1, env=env)  # type: ignore[arg-type]
    state = build_state(run, resume=False)
    with torch.no_grad():
        for p in state.G_ema.parameters():
            p.add_(1.0)
    before = copy.deepcopy(state.G_ema.state_dict())
    pos = Position(stage=2, alpha=1.0, phase="stable", resolution=(20, 16), minibatch=8, d_steps=3, lr=cfg.lr)
    feed = RealFeed(breast_20x16, reduction=1, batch_global=8, env=env, seed=0, start=0,  # type: ignore[arg-type]
                    preload_max_mb=64, num_workers=0)
    stats = train_step(state, run, pos, feed, LossWeights())
    assert set(stats) >= {"loss_d", "loss_g", "gp", "grad_norm_d", "grad_norm_g"}
    k = 0.8 ** 3
    for name, p in state.G.named_parameters():
        expect = before[name] * k + p.detach() * (1 - k)
        torch.testing.assert_close(state.G_ema.state_dict()[name], expect, atol=1e-6, rtol=0)


def test_g_views_follow_the_dataset_mix(breast_20x16: object) -> None:
    from mammoeval.core import ddp
    from mammoeval_train.reals import RealFeed

    feed = RealFeed(breast_20x16, reduction=1, batch_global=8, env=ddp.init_from_env("cpu"), seed=0, start=0,  # type: ignore[arg-type]
                    preload_max_mb=64, num_workers=0)
    feed._known_views = torch.tensor([0, 1, 1, 1])  # a 1:3 CC:MLO mix
    views = feed.sample_views(4000, torch.Generator().manual_seed(0))
    assert set(views.tolist()) == {0, 1}
    assert views.float().mean().item() == pytest.approx(0.75, abs=0.03)


def test_default_is_the_fixed_behaviour_and_pggan_choices_stay_selectable() -> None:
    cfg = TrainConfig()
    assert (cfg.pad_mode, cfg.g_output, cfg.g_views, cfg.augment) == ("replicate", "clamp", "dataset", ())
    G, D = build_networks(tiny_config(pad_mode="zero", g_output="linear"))
    assert G.conv.pad_mode == "zero" and not G.clamp_output
    assert D.conv.pad_mode == "zero"
