"""Precision and recall of distributions (k-NN manifolds) and density and coverage.

Precision: fraction of generated samples inside the real manifold (the union of balls around
each real sample with radius its k-th nearest real neighbour distance); recall: fraction of real
samples inside the generated manifold (Kynkäänniemi et al. 2019, k = 3). Density: how many real
balls contain each generated sample, divided by k, averaged; coverage: fraction of real samples
whose ball contains at least one generated sample (Naeem et al. 2020, k = 5 as recommended there).
Distances are Euclidean; "inside a ball" is strictly closer than its radius (as the reference
code of Naeem et al.); they are computed in chunks so memory stays at chunk x N floats.

The bootstrap interval resamples the per-sample indicators with the fitted manifolds held fixed.

References:
    T. Kynkäänniemi et al. Improved precision and recall metric for assessing generative models.
    NeurIPS 2019.
    M. F. Naeem et al. Reliable fidelity and diversity metrics for generative models. ICML 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PRDCIndicators:
    """Per-sample values whose means are the four metrics.

    Attributes:
        precision: float [M] 1 where generated sample i is inside the real manifold.
        recall: float [N] 1 where real sample j is inside the generated manifold.
        density: float [M] number of real balls containing generated sample i, divided by k_dc.
        coverage: float [N] 1 where real sample j's ball contains a generated sample.
    """

    precision: torch.Tensor
    recall: torch.Tensor
    density: torch.Tensor
    coverage: torch.Tensor


def knn_radii(x: torch.Tensor, k: int, *, chunk: int = 1024) -> torch.Tensor:
    """Return the distance [N] from each row of x [N, D] to its k-th nearest other row."""
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples, got {x.shape[0]}")
    out = []
    for s in range(0, x.shape[0], chunk):
        d = torch.cdist(x[s:s + chunk], x)
        # the point itself is at distance 0 and is the first of the k+1 smallest
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, *, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (count of balls containing each point [P], nearest centre distance [P])."""
    counts, nearest = [], []
    for s in range(0, points.shape[0], chunk):
        d = torch.cdist(points[s:s + chunk], centres)
        counts.append((d < radii[None]).sum(1))
        nearest.append(d.min(1).values)
    return torch.cat(counts), torch.cat(nearest)


def compute_prdc_indicators(real: torch.Tensor, fake: torch.Tensor, *, k_pr: int = 3, k_dc: int = 5,
                            chunk: int = 1024) -> PRDCIndicators:
    """Return the per-sample indicators of precision, recall, density and coverage.

    Args:
        real: float [N, D] real features; fake: float [M, D] generated features (same space).
        k_pr: neighbours for the precision/recall manifolds; k_dc: for density/coverage.
    """
    real, fake = real.double(), fake.double()
    r_pr, f_pr = knn_radii(real, k_pr, chunk=chunk), knn_radii(fake, k_pr, chunk=chunk)
    r_dc = knn_radii(real, k_dc, chunk=chunk) if k_dc != k_pr else r_pr
    in_real_pr, _ = _inside(fake, real, r_pr, chunk=chunk)
    in_fake_pr, _ = _inside(real, fake, f_pr, chunk=chunk)
    in_real_dc, _ = _inside(fake, real, r_dc, chunk=chunk)
    # coverage: real j's ball (radius r_dc[j]) holds a generated sample <=> nearest fake within r_dc[j]
    nearest_fake = torch.cat([torch.cdist(real[s:s + chunk], fake).min(1).values for s in range(0, real.shape[0], chunk)])
    return PRDCIndicators(
        precision=(in_real_pr > 0).double(),
        recall=(in_fake_pr > 0).double(),
        density=in_real_dc.double() / k_dc,
        coverage=(nearest_fake < r_dc).double(),
    )
