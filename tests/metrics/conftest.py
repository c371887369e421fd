"""Fixtures for the metrics tests: tiny seeded phantom-like images, one torch thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run single-threaded: on a shared 2-core machine torch's thread pool thrashes."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def breast_images(n: int, *, height: int = 80, width: int = 64, seed: int = 0, blur: int = 0) -> torch.Tensor:
    """Return float32 [n, 1, H, W] textured half-discs against the left edge, black background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(0, 1, width), indexing="ij")
    out = []
    for _ in range(n):
        r = 0.7 + 0.2 * torch.rand(1, generator=g)
        mask = (yy ** 2 + (xx * 1.3) ** 2) < r ** 2
        tex = torch.rand(1, 1, height // 4, width // 4, generator=g)
        tex = torch.nn.functional.interpolate(tex, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
        noise = torch.rand(height, width, generator=g) * 0.2
        img = (0.3 + 0.4 * tex + noise) * mask
        out.append(img)
    x = torch.stack(out)[:, None].clamp(0, 1)
    if blur:
        k = blur * 2 + 1
        x = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (blur,) * 4, mode="replicate"), k, stride=1)
    return x.float()
