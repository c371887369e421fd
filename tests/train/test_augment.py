"""Differentiable augmentations: black stays black, gradients flow, seeded, content kept."""

from __future__ import annotations

import torch

from mammoeval_train.augment import augment, contrast, cutout, translate
from mammoeval_train.config import AUGMENTATIONS


def _square() -> torch.Tensor:
    x = torch.full((6, 1, 40, 32), -1.0)
    x[:, :, 15:25, 12:20] = 0.5  # a 10x8 block well inside the frame
    return x


def test_black_images_stay_black_under_every_augmentation() -> None:
    black = torch.full((4, 1, 20, 16), -1.0)
    out = augment(black, AUGMENTATIONS, torch.Generator().manual_seed(0))
    assert torch.equal(out, black)


def test_translation_moves_content_without_changing_it() -> None:
    x = _square()
    y = translate(x, torch.Generator().manual_seed(1))
    # shifts are at most 1/8 of each side (5 x 4 px), so the block stays whole: same pixel count and values
    assert torch.equal((y > 0).sum(dim=(1, 2, 3)), (x > 0).sum(dim=(1, 2, 3)))
    assert set(y.unique().tolist()) == {-1.0, 0.5}
    assert not torch.equal(y, x)


def test_cutout_blacks_out_one_box_and_contrast_scales_about_black() -> None:
    white = torch.ones(8, 1, 40, 32)
    y = cutout(white, torch.Generator().manual_seed(2))
    share = (y == -1).float().mean(dim=(1, 2, 3))
    assert bool((share > 0).all()) and bool((share <= 21 * 17 / (40 * 32) + 1e-6).all())  # an odd 21x17 box at most
    c = contrast(_square(), torch.Generator().manual_seed(3))
    gain = (c[:, 0, 20, 16] + 1) / 1.5
    assert bool(((gain >= 0.75) & (gain <= 1.25)).all()) and bool((c[:, 0, 0, 0] == -1).all())


def test_augment_is_differentiable_and_seeded() -> None:
    x = _square().requires_grad_(True)
    y = augment(x, AUGMENTATIONS, torch.Generator().manual_seed(4))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = augment(_square(), AUGMENTATIONS, torch.Generator().manual_seed(4))
    torch.testing.assert_close(again, y.detach())
