import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from denoise_adv import DenoisePGD
from denoise_adv.metrics import psnr


def _data(shape=(3, 1, 8, 8), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g, dtype=dtype)
    noisy = clean + 0.1 * torch.randn(shape, generator=g, dtype=dtype)
    return noisy, clean


@pytest.mark.parametrize("a", [0.6, -0.8, 0.95])
def test_linear_denoiser_worst_case_is_reached_exactly(linear_denoiser, a, dtype):
    noisy, clean = _data(dtype=dtype)
    eps = 3 / 255
    atk = DenoisePGD(linear_denoiser(a), eps=eps, alpha=1 / 255, steps=4, random_start=False)
    delta = atk(noisy, clean) - noisy
    expected = eps * torch.sign(a * (a * noisy - clean))
    torch.testing.assert_close(delta, expected, atol=1e-6 if dtype == torch.float32 else 1e-12,
                               rtol=0)
    # and it is the maximiser: no vertex of the box does better than it on random draws
    best = (a * (noisy + delta) - clean).pow(2).sum()
    signs = torch.randint(0, 2, (64, *noisy.shape), dtype=dtype) * 2 - 1
    others = (a * (noisy + eps * signs) - clean).pow(2).flatten(1).sum(1)
    assert bool((others <= best + 1e-9).all())


def test_random_start_ends_on_the_worst_vertex_where_the_gradient_sign_is_fixed(linear_denoiser):
    # d/d delta_i (a*delta_i + r_i)^2 has the sign of a*r_i wherever |r_i| > |a|*eps, whatever the
    # random start; elsewhere ascent may end on the other (local) vertex of the box.
    noisy, clean = _data((4, 1, 16, 16))
    a, eps = 0.7, 8 / 255
    atk = DenoisePGD(linear_denoiser(a), eps=eps, alpha=eps, steps=3, random_start=True)
    delta = atk(noisy, clean) - noisy
    r = a * noisy - clean
    fixed = r.abs() > abs(a) * eps
    assert 0.5 < fixed.float().mean() < 1.0
    torch.testing.assert_close(delta.abs(), torch.full_like(delta, eps), atol=1e-12, rtol=0)
    torch.testing.assert_close(delta[fixed], eps * torch.sign(a * r[fixed]), atol=1e-12, rtol=0)


@settings(max_examples=25, deadline=None)
@given(eps=st.floats(0.0, 0.1), alpha=st.floats(1e-4, 0.05), steps=st.integers(1, 5),
       batch=st.integers(1, 3), channels=st.sampled_from([1, 3]), seed=st.integers(0, 10_000),
       random_start=st.booleans())
def test_perturbation_stays_in_linf_ball(eps, alpha, steps, batch, channels, seed, random_start):
    torch.manual_seed(seed)
    model = torch.nn.Conv2d(channels, channels, 3, padding=1).double()
    noisy, clean = _data((batch, channels, 6, 7), seed)
    before = noisy.clone()
    adv = DenoisePGD(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)(
        noisy, clean)
    assert (adv - noisy).abs().max() <= eps + 1e-12
    assert torch.equal(noisy, before)  # input untouched


def test_clip_is_respected(trained_dncnn, noisy_pair):
    _, clean = noisy_pair
    noisy = clean.clamp(0, 1)  # inside the box, so box and ball are both satisfiable
    eps = 8 / 255
    adv = DenoisePGD(trained_dncnn, eps=eps, alpha=2 / 255, steps=3, clip=(0.0, 1.0))(noisy, clean)
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - noisy).abs().max() <= eps + 1e-6
    unclipped = DenoisePGD(trained_dncnn, eps=eps, alpha=2 / 255, steps=3)(noisy, clean)
    assert unclipped.min() < 0 or unclipped.max() > 1  # the option does something


def test_attack_beats_random_noise_of_same_norm(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    eps = 2 / 255
    torch.manual_seed(0)
    adv = DenoisePGD(trained_dncnn, eps=eps, alpha=0.5 / 255, steps=10)(noisy, clean)
    rand = noisy + eps * torch.sign(torch.randn_like(noisy))  # same L-inf (and L2) norm
    with torch.no_grad():
        base = psnr(trained_dncnn(noisy).clamp(0, 1), clean)
        drop_adv = base - psnr(trained_dncnn(adv).clamp(0, 1), clean)
        drop_rand = base - psnr(trained_dncnn(rand).clamp(0, 1), clean)
    assert bool((drop_adv > 0.3).all()), drop_adv
    assert bool((drop_adv > 3 * drop_rand.abs()).all()), (drop_adv, drop_rand)


def test_without_clean_image_attacks_deviation_from_own_output(trained_dncnn, noisy_pair):
    noisy, _ = noisy_pair
    torch.manual_seed(1)
    adv = DenoisePGD(trained_dncnn, eps=2 / 255, alpha=0.5 / 255, steps=5)(noisy)
    delta = adv - noisy
    assert delta.abs().max() > 0.9 * 2 / 255  # moved, to the edge of the ball somewhere
    with torch.no_grad():
        ref = trained_dncnn(noisy)
        moved = (trained_dncnn(adv) - ref).pow(2).mean()
        rand = (trained_dncnn(noisy + 2 / 255 * torch.sign(torch.randn_like(noisy))) - ref)
    assert moved > 2 * rand.pow(2).mean()


def test_without_clean_image_and_without_random_start_raises(linear_denoiser):
    noisy, _ = _data()
    atk = DenoisePGD(linear_denoiser(0.5), random_start=False)
    with pytest.raises(ValueError, match="zero gradient"):
        atk(noisy)


def test_targeted_mode_pulls_output_towards_target(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    target = torch.zeros_like(clean)
    atk = DenoisePGD(trained_dncnn, eps=4 / 255, alpha=1 / 255, steps=10)
    atk.set_mode_targeted_by_label(quiet=True)
    adv = atk(noisy, target)
    with torch.no_grad():
        before = (trained_dncnn(noisy) - target).pow(2).mean()
        after = (trained_dncnn(adv) - target).pow(2).mean()
    assert after < before


def test_targeted_mode_needs_a_target(linear_denoiser):
    noisy, _ = _data()
    atk = DenoisePGD(linear_denoiser(0.5))
    atk.set_mode_targeted_by_label(quiet=True)
    with pytest.raises(ValueError, match="target"):
        atk(noisy)


def test_same_seed_same_result_and_generator(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    atk = DenoisePGD(trained_dncnn, steps=2)
    torch.manual_seed(5)
    a = atk(noisy, clean)
    torch.manual_seed(5)
    b = atk(noisy, clean)
    torch.manual_seed(6)
    c = atk(noisy, clean)
    assert torch.equal(a, b) and not torch.equal(a, c)
    g1 = DenoisePGD(trained_dncnn, steps=2, generator=torch.Generator().manual_seed(3))
    g2 = DenoisePGD(trained_dncnn, steps=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(g1(noisy, clean), g2(noisy, clean))


def test_runs_on_device_and_dtype_of_model(device, dtype):
    model = torch.nn.Conv2d(3, 3, 3, padding=1).to(device=device, dtype=dtype)
    noisy, clean = _data((2, 3, 9, 11), dtype=dtype)
    adv = DenoisePGD(model, eps=1 / 255, alpha=1 / 255, steps=2)(noisy, clean)  # inputs on CPU
    assert adv.device.type == device.type and adv.dtype == dtype
    assert adv.shape == noisy.shape
