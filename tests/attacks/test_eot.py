"""EOT (``eot_iter``): gradients averaged over a randomized model's test-time noise, for PGD
and APGD alike (it lives once, in DenoiseAttack)."""

import pytest
import torch
from torch import nn

from denoise_adv import DenoiseAPGD, DenoiseFGSM, DenoisePGD
from denoise_adv.attacks import mse_per_image
from denoise_adv.noise import ts_noise

SIGMA = 25 / 255


class RandomizedDenoiser(nn.Module):
    """A randomized denoiser: TS noise (T = 10) added to its input at every forward, drawn
    from the global RNG."""

    def __init__(self, inner: nn.Module, sigma: float = SIGMA) -> None:
        super().__init__()
        self.inner, self.sigma = inner, sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + ts_noise(x.shape, self.sigma, 10, device=x.device, dtype=x.dtype))


@pytest.fixture
def randomized(trained_dncnn):
    return RandomizedDenoiser(trained_dncnn).eval()


@pytest.fixture
def crops(noisy_pair):
    return tuple(x[:, :, :32, :32] for x in noisy_pair)


def _cos(a, b):
    return nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


def test_eot_gradient_is_closer_to_the_expected_gradient(randomized, crops):
    """At delta = 0: the expected gradient estimated from 256 draws; 8 averaged passes point
    much closer to it than one (measured cosine 0.60-0.73 for one, 0.89-0.94 for eight)."""
    noisy, clean = crops
    delta = torch.zeros_like(noisy)
    torch.manual_seed(5)
    single = DenoisePGD(randomized)
    expected = torch.stack([single._gradient(noisy, delta, clean, 1.0)[1]
                            for _ in range(256)]).mean(0)
    torch.manual_seed(7)
    one = single._gradient(noisy, delta, clean, 1.0)[1]
    eight = DenoisePGD(randomized, eot_iter=8)._gradient(noisy, delta, clean, 1.0)[1]
    assert (_cos(eight, expected) > _cos(one, expected) + 0.1).all()
    assert (_cos(eight, expected) > 0.85).all()


def _expected_mse(model, adv, clean, draws=64):
    torch.manual_seed(99)  # the same draws for every candidate (common random numbers)
    with torch.no_grad():
        return torch.stack([mse_per_image(model(adv), clean) for _ in range(draws)]).mean(0)


@pytest.mark.parametrize("make", [
    lambda m, eot: DenoisePGD(m, eps=2 / 255, alpha=0.5 / 255, steps=10, eot_iter=eot),
    lambda m, eot: DenoiseAPGD(m, eps=2 / 255, steps=10, eot_iter=eot, seed=0),
], ids=["pgd", "apgd"])
def test_eot_attack_is_stronger_on_the_randomized_model(randomized, crops, make):
    """Scored by the expected MSE over the model's noise, the attack with eot_iter=8 beats the
    same attack with eot_iter=1 (same starts) on every image."""
    noisy, clean = crops
    scores = {}
    for eot in (1, 8):
        torch.manual_seed(0)
        scores[eot] = _expected_mse(randomized, make(randomized, eot)(noisy, clean), clean)
    assert (scores[8] > scores[1]).all()


def test_eot_one_is_the_plain_attack_and_costs_scale(trained_dncnn, crops):
    noisy, clean = crops
    plain = DenoisePGD(trained_dncnn, steps=3, generator=torch.Generator().manual_seed(0))
    same = DenoisePGD(trained_dncnn, steps=3, eot_iter=1,
                      generator=torch.Generator().manual_seed(0))
    assert torch.equal(plain(noisy, clean), same(noisy, clean))
    # on a deterministic model the mean of identical passes is that pass's gradient
    eot = DenoisePGD(trained_dncnn, steps=3, eot_iter=3,
                     generator=torch.Generator().manual_seed(0))
    again = DenoisePGD(trained_dncnn, steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(eot(noisy, clean), again(noisy, clean), atol=1e-6)
    calls = []
    hook = trained_dncnn.register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        DenoiseFGSM(trained_dncnn, eot_iter=4)(noisy, clean)
        assert len(calls) == 4
        calls.clear()
        DenoiseAPGD(trained_dncnn, steps=3, eot_iter=2, seed=0)(noisy, clean)
        assert len(calls) == 2 * 3 + 2  # 3 steps of 2 passes, 2 forwards for the last point
    finally:
        hook.remove()
    assert DenoisePGD(trained_dncnn, eot_iter=2).params["eot_iter"] == 2
    assert "eot_iter" not in DenoisePGD(trained_dncnn).params  # records as before
    with pytest.raises(ValueError, match="eot_iter must be >= 1"):
        DenoisePGD(trained_dncnn, eot_iter=0)
