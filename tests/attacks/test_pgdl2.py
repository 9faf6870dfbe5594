import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from denoise_adv import DenoisePGDL2
from denoise_adv.metrics import psnr


def _data(shape=(3, 1, 8, 8), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g, dtype=dtype)
    return clean + 0.1 * torch.randn(shape, generator=g, dtype=dtype), clean


def _norms(x):
    return x.flatten(1).norm(dim=1)


@pytest.mark.parametrize("a", [0.6, -0.8])
def test_linear_denoiser_worst_case_is_reached(linear_denoiser, a):
    noisy, clean = _data()
    eps = 0.3
    atk = DenoisePGDL2(linear_denoiser(a), eps=eps, alpha=0.1, steps=5, random_start=False)
    delta = atk(noisy, clean) - noisy
    r = a * noisy - clean
    expected = eps * math.copysign(1, a) * r / _norms(r).view(-1, 1, 1, 1)
    torch.testing.assert_close(delta, expected, atol=1e-12, rtol=0)


def test_per_pixel_radius_scales_with_image_size(linear_denoiser):
    for h, w in [(8, 8), (16, 12)]:
        noisy, clean = _data((2, 3, h, w))
        atk = DenoisePGDL2(linear_denoiser(0.9), eps=2 / 255, alpha=1 / 255, steps=5,
                           random_start=False, per_pixel=True)
        delta = atk(noisy, clean) - noisy
        radius = 2 / 255 * math.sqrt(3 * h * w)
        torch.testing.assert_close(_norms(delta), torch.full((2,), radius, dtype=delta.dtype))
        assert atk.radius(noisy) == pytest.approx(radius)


@settings(max_examples=25, deadline=None)
@given(eps=st.floats(0.0, 2.0), alpha=st.floats(1e-3, 1.0), steps=st.integers(1, 5),
       per_pixel=st.booleans(), seed=st.integers(0, 10_000), random_start=st.booleans())
def test_perturbation_stays_in_l2_ball(eps, alpha, steps, per_pixel, seed, random_start):
    torch.manual_seed(seed)
    model = torch.nn.Conv2d(1, 1, 3, padding=1).double()
    noisy, clean = _data((2, 1, 5, 9), seed)
    atk = DenoisePGDL2(model, eps=eps, alpha=alpha, steps=steps, per_pixel=per_pixel,
                       random_start=random_start)
    delta = atk(noisy, clean) - noisy
    assert bool((_norms(delta) <= atk.radius(noisy) * (1 + 1e-9) + 1e-15).all())


def test_random_start_lies_inside_ball():
    atk = DenoisePGDL2(torch.nn.Identity(), eps=0.5, generator=torch.Generator().manual_seed(0))
    starts = atk._random_delta(torch.zeros(200, 1, 4, 4))
    norms = _norms(starts)
    assert bool((norms <= 0.5 + 1e-6).all())
    assert norms.min() < 0.1 and norms.max() > 0.45  # spread over the radius, not on the sphere


def test_zero_gradient_makes_no_step():
    atk = DenoisePGDL2(torch.nn.Identity(), eps=1.0, alpha=0.5)
    delta = torch.zeros(2, 1, 3, 3)
    assert torch.equal(atk._ascent(delta, torch.zeros_like(delta)), delta)


def test_attack_beats_random_noise_of_same_norm(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    torch.manual_seed(0)
    atk = DenoisePGDL2(trained_dncnn, eps=2 / 255, alpha=0.5 / 255, steps=10, per_pixel=True)
    adv = atk(noisy, clean)
    direction = torch.randn_like(noisy)
    rand = noisy + direction / _norms(direction).view(-1, 1, 1, 1) * atk.radius(noisy)
    with torch.no_grad():
        base = psnr(trained_dncnn(noisy).clamp(0, 1), clean)
        drop_adv = base - psnr(trained_dncnn(adv).clamp(0, 1), clean)
        drop_rand = base - psnr(trained_dncnn(rand).clamp(0, 1), clean)
    assert bool((drop_adv > 0.3).all()), drop_adv
    assert bool((drop_adv > 3 * drop_rand.abs()).all()), (drop_adv, drop_rand)
