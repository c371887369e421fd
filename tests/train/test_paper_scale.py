"""The `paper` networks (full width, 5x4 to 1280x1024) build and take one D and one G step at
every stage on the CPU with a minibatch of 1: shapes, finite losses, every active layer updated."""

from __future__ import annotations

import pytest
import torch

from mammoeval_train.config import preset
from mammoeval_train.loop import make_optimizers
from mammoeval_train.loss import LossWeights, compute_d_loss, compute_g_loss
from mammoeval_train.networks import build_networks


@pytest.mark.slow
def test_paper_networks_step_at_every_stage_up_to_1280x1024() -> None:
    cfg = preset("paper")
    assert cfg.size == (1280, 1024) and cfg.channels(0) == 512 and cfg.latent_size == 512
    G, D = build_networks(cfg)
    opt_G, opt_D = make_optimizers(G, D, cfg.lr)
    gen = torch.Generator().manual_seed(0)
    weights = LossWeights(cfg.gp_weight, cfg.gp_target, cfg.drift_weight, cfg.aux_weight)
    views = torch.tensor([1])
    for stage in range(cfg.n_stages):
        h, w = cfg.resolution(stage)
        alpha = 1.0 if stage == 0 else 0.5
        real = torch.rand(1, 1, h, w, generator=gen) * 2 - 1
        z = torch.randn(1, cfg.latent_size, generator=gen)
        mix = torch.rand(1, 1, 1, 1, generator=gen)
        before_d = D.from_rgb[stage].weight.detach().clone()
        opt_D.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(z, views, stage, alpha)
        assert fake.shape == (1, 1, h, w)
        d_loss = compute_d_loss(D, real, views, fake, views, mix, stage=stage, alpha=alpha, weights=weights)
        d_loss.total.backward()
        opt_D.step()
        before_g = G.to_rgb[stage].weight.detach().clone()
        D.requires_grad_(False)
        opt_G.zero_grad(set_to_none=True)
        g_loss = compute_g_loss(D, G(z, views, stage, alpha), views, stage=stage, alpha=alpha, weights=weights)
        g_loss.total.backward()
        opt_G.step()
        D.requires_grad_(True)
        assert torch.isfinite(d_loss.total) and torch.isfinite(g_loss.total), f"stage {stage} {h}x{w}"
        assert not torch.equal(D.from_rgb[stage].weight, before_d) and not torch.equal(G.to_rgb[stage].weight, before_g)
    assert (h, w) == (1280, 1024)
