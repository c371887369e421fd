"""WGAN-GP against direct computations: gradient penalty, drift, auxiliary view cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch

from mammoeval_train.loss import (
    LossWeights,
    compute_d_loss,
    compute_g_loss,
    compute_gradient_penalty,
    compute_view_ce,
)
from mammoeval_train.networks import build_networks
from tests.train.trainkit import tiny_config


class LinearCritic(torch.nn.Module):
    """D(x) = <a, x> + c with constant view logits: every gradient is known in closed form."""

    def __init__(self, a: torch.Tensor, c: float, logits: tuple[float, float]) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(a)
        self.c = c
        self.logits = torch.tensor(logits)

    def forward(self, x: torch.Tensor, stage: int, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        return (x * self.a).flatten(1).sum(1) + self.c, self.logits.expand(x.shape[0], 2)


def test_gradient_penalty_linear_critic_closed_form() -> None:
    a = torch.full((1, 4, 3), 0.5)  # |a| = 0.5 * sqrt(12)
    D = LinearCritic(a, 0.0, (0.0, 0.0))
    real, fake = torch.rand(5, 1, 4, 3), torch.rand(5, 1, 4, 3)
    gp = compute_gradient_penalty(D, real, fake, torch.rand(5, 1, 1, 1), stage=0, alpha=1.0, target=2.0)
    assert gp.item() == pytest.approx((0.5 * math.sqrt(12) - 2.0) ** 2 / 4.0, rel=1e-6)


def test_gradient_penalty_matches_jacobian_of_real_discriminator() -> None:
    cfg = tiny_config()
    _, D = build_networks(cfg)
    g = torch.Generator().manual_seed(7)
    real = torch.rand(4, 1, 10, 8, generator=g) * 2 - 1
    fake = torch.rand(4, 1, 10, 8, generator=g) * 2 - 1
    mix = torch.rand(4, 1, 1, 1, generator=g)
    gp = compute_gradient_penalty(D, real, fake, mix, stage=1, alpha=0.3)
    x = real + (fake - real) * mix
    jac = torch.autograd.functional.jacobian(lambda t: D(t, 1, 0.3)[0], x)  # [4, 4, 1, 10, 8]
    grad_of_sum = jac.sum(dim=0)
    expect = ((grad_of_sum.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
    assert gp.item() == pytest.approx(expect.item(), rel=1e-4)
    # the penalty is differentiable with respect to D's weights (double backward)
    gp.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())


def test_view_cross_entropy_hand_computed_and_ignores_unknown() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    views = torch.tensor([0, 0, -1])
    expect = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(1.0))) / 2
    assert compute_view_ce(logits, views).item() == pytest.approx(expect, rel=1e-6)
    assert compute_view_ce(logits, torch.tensor([-1, -1, -1])).item() == 0.0


def test_d_and_g_losses_sum_their_terms() -> None:
    a = torch.full((1, 2, 2), 0.25)  # |a| = 0.5
    D = LinearCritic(a, 1.0, (1.0, 0.0))
    real, fake = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)  # D(real) = 2, D(fake) = 1
    views = torch.tensor([0, 1])
    w = LossWeights(gp_weight=10.0, gp_target=1.0, drift_weight=0.001, aux_weight=1.0)
    d = compute_d_loss(D, real, views, fake, views, torch.full((2, 1, 1, 1), 0.5), stage=0, alpha=1.0, weights=w)
    ce = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(1.0))) / 2  # logits (1, 0) vs labels 0, 1
    assert d.wgan.item() == pytest.approx(1.0 - 2.0)
    assert d.gp.item() == pytest.approx(10.0 * 0.25)
    assert d.drift.item() == pytest.approx(0.001 * 4.0)
    assert d.ce_real.item() == pytest.approx(ce) and d.ce_fake.item() == pytest.approx(ce)
    assert d.total.item() == pytest.approx(-1.0 + 2.5 + 0.004 + 2 * ce, rel=1e-6)
    g = compute_g_loss(D, fake, views, stage=0, alpha=1.0, weights=w)
    assert g.total.item() == pytest.approx(-1.0 + ce, rel=1e-6)


def test_aux_loss_pushes_d_to_classify_views() -> None:
    cfg = tiny_config(latent_size=8)
    _, D = build_networks(cfg)
    opt = torch.optim.Adam(D.parameters(), lr=0.01, betas=(0.0, 0.99))
    g = torch.Generator().manual_seed(0)
    views = torch.tensor([0, 1] * 4)
    x = torch.where(views[:, None, None, None] == 0, 0.5, -0.5) + 0.1 * torch.randn(8, 1, 5, 4, generator=g)
    first = compute_view_ce(D(x, 0)[1], views).item()
    for _ in range(30):
        opt.zero_grad()
        compute_view_ce(D(x, 0)[1], views).backward()
        opt.step()
    assert compute_view_ce(D(x, 0)[1], views).item() < 0.5 * first
