"""WGAN-GP with drift and the auxiliary view cross-entropy, as functions of (D, images, views).

D loss = D(fake) - D(real) + gp_weight * (|grad D(mix)| - t)^2 / t^2 + drift_weight * D(real)^2
         + aux_weight * (CE(real views) + CE(fake views))
G loss = -D(fake) + aux_weight * CE(fake views)
(all means over the batch; mix = real + eps * (fake - real), eps ~ U[0, 1) per sample).

References:
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (gradient penalty).
    Karras et al. 2018, appendix A.1 (drift term 0.001 * D(real)^2).
    Odena et al., "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mammoeval_train.networks import Discriminator


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (TrainConfig fields of the same names)."""

    gp_weight: float = 10.0
    gp_target: float = 1.0
    drift_weight: float = 0.001
    aux_weight: float = 1.0


@dataclass(frozen=True)
class DLoss:
    """D loss and its weighted terms (0-dim float32 tensors); `total` carries the graph."""

    total: torch.Tensor
    wgan: torch.Tensor
    gp: torch.Tensor
    drift: torch.Tensor
    ce_real: torch.Tensor
    ce_fake: torch.Tensor


@dataclass(frozen=True)
class GLoss:
    """G loss and its terms (0-dim float32 tensors); `total` carries the graph."""

    total: torch.Tensor
    wgan: torch.Tensor
    ce_fake: torch.Tensor


def compute_view_ce(logits: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy of view logits [N, 2] against labels [N] (label -1 ignored; 0 if none)."""
    known = views >= 0
    if not bool(known.any()):
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits.float()[known], views[known])


def compute_gradient_penalty(D: Discriminator, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor, *,
                             stage: int, alpha: float, target: float = 1.0) -> torch.Tensor:
    """Return mean over samples of (|d D(x) / d x|_2 - target)^2 / target^2 at x = real + mix * (fake - real).

    Args:
        real, fake: float [N, 1, H, W]; fake is treated as a constant.
        mix: float [N, 1, 1, 1] in [0, 1).
    """
    x = (real + (fake.detach() - real) * mix).detach().requires_grad_(True)
    score, _ = D(x, stage, alpha)
    (grad,) = torch.autograd.grad(score.float().sum(), x, create_graph=True)
    norms = grad.float().flatten(1).norm(dim=1)
    return (norms - target).square().mean() / (target * target)


def compute_d_loss(D: Discriminator, real: torch.Tensor, real_views: torch.Tensor, fake: torch.Tensor,
                   fake_views: torch.Tensor, mix: torch.Tensor, *, stage: int, alpha: float,
                   weights: LossWeights) -> DLoss:
    """Return the D loss for one minibatch (fake is detached here).

    Args:
        real: float [N, 1, H, W] in about [-1, 1]; real_views int64 [N] (0 CC, 1 MLO, -1 unknown).
        fake: float [M, 1, H, W]; fake_views int64 [M].
        mix: float [N, 1, 1, 1] in [0, 1) for the gradient penalty (needs M == N).
    """
    fake = fake.detach()
    s_real, l_real = D(real, stage, alpha)
    s_fake, l_fake = D(fake, stage, alpha)
    s_real, s_fake = s_real.float(), s_fake.float()
    wgan = s_fake.mean() - s_real.mean()
    gp = weights.gp_weight * compute_gradient_penalty(D, real, fake, mix, stage=stage, alpha=alpha,
                                                      target=weights.gp_target)
    drift = weights.drift_weight * s_real.square().mean()
    ce_real = compute_view_ce(l_real, real_views)
    ce_fake = compute_view_ce(l_fake, fake_views)
    total = wgan + gp + drift + weights.aux_weight * (ce_real + ce_fake)
    return DLoss(total, wgan.detach(), gp.detach(), drift.detach(), ce_real.detach(), ce_fake.detach())


def compute_g_loss(D: Discriminator, fake: torch.Tensor, fake_views: torch.Tensor, *, stage: int, alpha: float,
                   weights: LossWeights) -> GLoss:
    """Return the G loss for generated images fake [N, 1, H, W] (graph through G kept) with views [N]."""
    s_fake, l_fake = D(fake, stage, alpha)
    wgan = -s_fake.float().mean()
    ce_fake = compute_view_ce(l_fake, fake_views)
    total = wgan + weights.aux_weight * ce_fake
    return GLoss(total, wgan.detach(), ce_fake.detach())
