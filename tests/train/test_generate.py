"""Latents per image seed: from the GENERATE_LATENT stream, independent of the batch they are drawn in."""

from __future__ import annotations

import pytest
import torch

from mammoeval.core.seeding import Stream, torch_generator
from mammoeval_train.generate import latents_for_seeds, render_images
from mammoeval_train.networks import build_networks
from tests.train.trainkit import tiny_config

CFG = tiny_config()


def test_latent_of_a_seed_is_its_stream_draw_whatever_the_batch() -> None:
    alone = latents_for_seeds([5], CFG.latent_size)[0]
    expected = torch.randn(CFG.latent_size, generator=torch_generator(5, Stream.GENERATE_LATENT))
    torch.testing.assert_close(alone, expected, rtol=0, atol=0)
    for seeds in ([3, 5, 7], [5, 5], [9, 8, 7, 6, 5]):
        z = latents_for_seeds(seeds, CFG.latent_size)
        for i, s in enumerate(seeds):
            torch.testing.assert_close(z[i], latents_for_seeds([s], CFG.latent_size)[0], rtol=0, atol=0)
    assert not torch.equal(latents_for_seeds([6], CFG.latent_size)[0], alone)


def test_image_of_a_seed_does_not_depend_on_batch_composition() -> None:
    G, _ = build_networks(CFG)
    G.eval()
    seeds, views = [4, 11, 2, 30], torch.tensor([0, 1, 1, 0])
    together = render_images(G, latents_for_seeds(seeds, CFG.latent_size), views, stage=2, alpha=1.0, batch_size=4)
    for i, s in enumerate(seeds):
        alone = render_images(G, latents_for_seeds([s], CFG.latent_size), views[i:i + 1], stage=2, alpha=1.0,
                              batch_size=1)
        torch.testing.assert_close(alone[0], together[i], rtol=0, atol=1e-5)  # batched kernels round differently


def test_negative_image_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        latents_for_seeds([1, -1], CFG.latent_size)
