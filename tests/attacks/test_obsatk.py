import math

import pytest
import torch

from denoise_adv import ObsAtk


def _data(shape=(3, 3, 6, 6), seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g, dtype=torch.float64)
    return clean + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64), clean


@pytest.mark.parametrize("a", [0.7, -0.5])
def test_linear_denoiser_closed_form(linear_denoiser, a):
    noisy, clean = _data()
    eps = 0.25
    delta = ObsAtk(linear_denoiser(a), eps=eps, alpha=0.1, steps=6, random_start=False)(
        noisy, clean) - noisy
    r = a * noisy - clean
    pr = r - r.mean(dim=(1, 2, 3), keepdim=True)
    expected = eps * math.copysign(1, a) * pr / pr.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    torch.testing.assert_close(delta, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("random_start", [True, False])
def test_zero_mean_and_inside_ball(trained_dncnn, noisy_pair, random_start):
    noisy, clean = noisy_pair
    torch.manual_seed(0)
    atk = ObsAtk(trained_dncnn, eps=2 / 255, alpha=0.5 / 255, steps=5, per_pixel=True,
                 random_start=random_start)
    delta = atk(noisy, clean) - noisy
    assert delta.mean(dim=(1, 2, 3)).abs().max() < 1e-7
    assert bool((delta.flatten(1).norm(dim=1) <= atk.radius(noisy) * (1 + 1e-5)).all())
    assert delta.abs().max() > 0


def test_differs_from_plain_l2_when_gradient_has_a_mean(linear_denoiser):
    from denoise_adv import DenoisePGDL2

    noisy, clean = _data()
    clean = clean - 0.3  # the residual gets a large mean: plain L2 PGD would shift brightness
    plain = DenoisePGDL2(linear_denoiser(0.9), eps=0.2, alpha=0.1, steps=4, random_start=False)
    obs = ObsAtk(linear_denoiser(0.9), eps=0.2, alpha=0.1, steps=4, random_start=False)
    d_plain = plain(noisy, clean) - noisy
    d_obs = obs(noisy, clean) - noisy
    assert d_plain.mean().abs() > 1e-3 and d_obs.mean().abs() < 1e-12
