"""evaluation/inputs: the noisy input of an image comes from the noise owner, unchanged."""

import pytest
import torch

from denoise_adv import seeding
from denoise_adv.evaluation import noisy_image


@pytest.mark.parametrize("seed, name, sigma", [(0, "camera", 25 / 255), (7, "x", 0.3),
                                               (1, "coins", 10 / 255)])
def test_noisy_image_is_the_noise_owners_draw_bit_for_bit(seed, name, sigma):
    """Drawn through :func:`denoise_adv.noise.gaussian_noise` since round 4, it equals the raw
    ``torch.randn`` of the ``"noise"`` stream it replaced (every stored row stays valid)."""
    clean = torch.rand(1, 1, 33, 40, generator=torch.Generator().manual_seed(seed))
    generator = seeding.generator(seed, "noise", name)
    old = clean + sigma * torch.randn(clean.shape, generator=generator)
    assert torch.equal(noisy_image(clean, sigma, seed, name), old)
    again = noisy_image(clean, sigma, seed, name, draw=1)
    assert not torch.equal(again, old)  # a further draw of the same image is another noise
    assert (again - clean).std().item() == pytest.approx(sigma, rel=0.1)
