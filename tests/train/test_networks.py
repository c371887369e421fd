"""G and D: shapes at every stage, fade-in continuity, equalized learning rate, pixel norm, minibatch stddev."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mammoeval_train.config import TrainConfig
from mammoeval_train.networks import (
    EqualizedConv2d,
    EqualizedLinear,
    build_networks,
    conv_downsample2,
    downsample2,
    minibatch_stddev,
    pixel_norm,
    upsample2,
    upsample2_conv,
)
from tests.train.trainkit import tiny_config

CFG = tiny_config(size=(40, 32), minibatch=(8, 8, 8, 8))


@pytest.fixture(scope="module")
def nets() -> tuple[torch.nn.Module, torch.nn.Module]:
    return build_networks(CFG)


def test_shapes_at_every_stage(nets: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    G, D = nets
    z = torch.randn(4, CFG.latent_size, generator=torch.Generator().manual_seed(0))
    views = torch.tensor([0, 1, 0, 1])
    for stage, (h, w) in enumerate([(5, 4), (10, 8), (20, 16), (40, 32)]):
        for alpha in (0.0, 0.5, 1.0):
            img = G(z, views, stage, alpha)
            assert img.shape == (4, 1, h, w)
            score, logits = D(img, stage, alpha)
            assert score.shape == (4,) and logits.shape == (4, 2)


def test_generator_fade_in_alpha_zero_is_previous_stage_upsampled(nets: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    G, _ = nets
    z = torch.randn(3, CFG.latent_size, generator=torch.Generator().manual_seed(1))
    views = torch.tensor([0, 1, 1])
    for stage in (1, 2, 3):
        prev = G(z, views, stage - 1, 1.0)
        faded = G(z, views, stage, 0.0)
        assert torch.equal(faded, F.interpolate(prev, scale_factor=2, mode="nearest"))
        # continuity: a small alpha step moves the output a little
        step = (G(z, views, stage, 1e-3) - faded).abs().max().item()
        assert 0 < step < 1e-2 * (1 + faded.abs().max().item())


def test_discriminator_fade_in_alpha_zero_is_previous_stage_on_downsampled(
        nets: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    _, D = nets
    x = torch.rand(4, 1, 40, 32, generator=torch.Generator().manual_seed(2))
    s0, l0 = D(x, 3, 0.0)
    s1, l1 = D(F.avg_pool2d(x, 2), 2, 1.0)
    torch.testing.assert_close(s0, s1, rtol=0, atol=1e-6)
    torch.testing.assert_close(l0, l1, rtol=0, atol=1e-6)


def test_equalized_lr_scales_weights_at_run_time() -> None:
    conv = EqualizedConv2d(6, 5, 3, generator=torch.Generator().manual_seed(0))
    assert conv.scale == pytest.approx(math.sqrt(2.0) / math.sqrt(6 * 9))
    x = torch.randn(2, 6, 7, 7)
    ref = F.conv2d(x, conv.weight * (math.sqrt(2.0) / math.sqrt(54)), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), ref)
    lin = EqualizedLinear(100, 10, gain=1.0, generator=torch.Generator().manual_seed(0))
    assert lin.scale == pytest.approx(0.1)
    # stored weights are N(0, 1) whatever the fan-in: the learning rate acts equally on every layer
    big = EqualizedConv2d(256, 256, 3, generator=torch.Generator().manual_seed(0))
    assert big.weight.std().item() == pytest.approx(1.0, abs=0.01)
    assert big.weight.mean().item() == pytest.approx(0.0, abs=0.01)


def test_pixel_norm_gives_unit_rms_per_pixel() -> None:
    x = torch.randn(3, 8, 4, 5) * 7
    rms = pixel_norm(x).square().mean(dim=1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), atol=1e-5, rtol=0)


def test_minibatch_stddev_matches_numpy_groups_of_four() -> None:
    x = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(4))
    out = minibatch_stddev(x)
    assert out.shape == (8, 4, 2, 2)
    a = x.numpy().reshape(4, 2, 3, 2, 2)  # group g holds samples m, m+2, m+4, m+6
    expect = np.sqrt(a.var(axis=0) + 1e-8).mean(axis=(1, 2, 3))  # [2]
    for i in range(8):
        np.testing.assert_allclose(out[i, 3].numpy(), expect[i % 2], rtol=1e-5)
    # a batch that 4 does not divide uses the largest divisor <= 4 (here 3)
    assert minibatch_stddev(torch.randn(6, 2, 2, 2)).shape == (6, 3, 2, 2)


def test_generator_treats_samples_independently(nets: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    G, _ = nets
    z = torch.randn(5, CFG.latent_size, generator=torch.Generator().manual_seed(5))
    views = torch.tensor([0, 1, 0, 1, 1])
    full = G(z, views, 2, 0.5)
    for i in range(5):
        torch.testing.assert_close(G(z[i:i + 1], views[i:i + 1], 2, 0.5), full[i:i + 1], atol=1e-5, rtol=0)
    # the view condition changes the image
    assert not torch.allclose(G(z[:1], torch.tensor([0]), 2, 1.0), G(z[:1], torch.tensor([1]), 2, 1.0))


def test_paper_feature_maps_and_resolutions() -> None:
    cfg = TrainConfig()
    assert cfg.n_stages == 9
    assert [cfg.resolution(s) for s in (0, 1, 8)] == [(5, 4), (10, 8), (1280, 1024)]
    assert [cfg.channels(s) for s in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]


def test_fused_resampling_convs_equal_resample_then_conv() -> None:
    conv = EqualizedConv2d(5, 7, 3, generator=torch.Generator().manual_seed(6))
    torch.nn.init.normal_(conv.bias, generator=torch.Generator().manual_seed(7))
    x = torch.randn(3, 5, 6, 4, generator=torch.Generator().manual_seed(8))
    # direct references with F (not the module's own helpers): nearest x2 then conv; conv then 2x2 mean
    w = conv.weight * conv.scale
    up_ref = F.conv2d(x.repeat_interleave(2, 2).repeat_interleave(2, 3), w, conv.bias, padding=1)
    down_ref = F.conv2d(x, w, conv.bias, padding=1).reshape(3, 7, 3, 2, 2, 2).mean(dim=(3, 5))
    torch.testing.assert_close(upsample2_conv(conv, x), up_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(conv_downsample2(conv, x), down_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(upsample2_conv(conv, x), conv(upsample2(x)), atol=1e-5, rtol=0)
    torch.testing.assert_close(conv_downsample2(conv, x), downsample2(conv(x)), atol=1e-5, rtol=0)
