"""Differentiable augmentations applied to every image D sees, real and generated alike.

With few training images D memorises the reals and G's feedback collapses. Augmenting both
sides with the same random, differentiable transforms (Zhao et al. 2020, DiffAugment; Karras et
al. 2020, ADA) lets D see more varied reals without G learning the transforms: G's images pass
through the same transforms, and gradients flow back through them. The transforms here keep a
mammogram's canonical layout (no flips, no rotations, chest wall stays on its side) and its black
background (everything outside the image, and the cut-out patches, is filled with black):

- "translation": shift by up to 1/8 of the height and width (integer pixels; black fill).
- "cutout": one black rectangle of half the height and width at a random place per image.
- "contrast": scale the grey levels about black by a factor in [0.75, 1.25] (black stays black).

Images are in [-1, 1] with black at -1.

References:
    Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020.
    Karras et al., "Training Generative Adversarial Networks with Limited Data", NeurIPS 2020.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mammoeval_train.config import AUGMENTATIONS

BLACK = -1.0
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
CONTRAST_RANGE = (0.75, 1.25)


def translate(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Return x [N, C, H, W] shifted per image by up to TRANSLATION_RATIO of each side, black fill."""
    n, _, h, w = x.shape
    dy, dx = max(1, int(h * TRANSLATION_RATIO + 0.5)), max(1, int(w * TRANSLATION_RATIO + 0.5))
    ty = torch.randint(-dy, dy + 1, (n, 1, 1), generator=gen).to(x.device)
    tx = torch.randint(-dx, dx + 1, (n, 1, 1), generator=gen).to(x.device)
    gy = torch.arange(h, device=x.device).view(1, h, 1) - ty + dy
    gx = torch.arange(w, device=x.device).view(1, 1, w) - tx + dx
    padded = F.pad(x, [dx, dx, dy, dy], value=BLACK)
    idx = (gy * (w + 2 * dx) + gx).reshape(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).reshape_as(x)


def cutout(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Return x with one black rectangle (CUTOUT_RATIO of each side) per image at a random place."""
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=gen).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=gen).to(x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((yy - cy).abs() <= ch // 2) & ((xx - cx).abs() <= cw // 2)
    return torch.where(inside.unsqueeze(1), torch.full_like(x, BLACK), x)


def contrast(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Return black + (x - black) * c per image, c uniform in CONTRAST_RANGE (black stays black)."""
    lo, hi = CONTRAST_RANGE
    c = (lo + (hi - lo) * torch.rand(x.shape[0], 1, 1, 1, generator=gen)).to(x.device, x.dtype)
    return BLACK + (x - BLACK) * c


_FUNCTIONS = {"translation": translate, "cutout": cutout, "contrast": contrast}
assert tuple(_FUNCTIONS) == AUGMENTATIONS


def augment(x: torch.Tensor, names: Sequence[str], gen: torch.Generator) -> torch.Tensor:
    """Return x [N, C, H, W] passed through the named augmentations in order (x itself when none).

    Every transform is differentiable in x; its random draws come from `gen` (CPU generator).
    """
    for name in names:
        x = _FUNCTIONS[name](x, gen)
    return x
