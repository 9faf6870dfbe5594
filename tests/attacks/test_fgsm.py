import pytest
import torch

from denoise_adv import DenoiseFGSM, DenoisePGD


def test_fgsm_is_one_signed_gradient_step(linear_denoiser):
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 5, 5, generator=g, dtype=torch.float64)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    eps = 4 / 255
    delta = DenoiseFGSM(linear_denoiser(-0.6), eps=eps)(noisy, clean) - noisy
    torch.testing.assert_close(delta, eps * torch.sign(-0.6 * (-0.6 * noisy - clean)),
                               atol=1e-12, rtol=0)


def test_fgsm_equals_single_step_pgd_without_random_start(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    fgsm = DenoiseFGSM(trained_dncnn, eps=3 / 255)(noisy, clean)
    pgd = DenoisePGD(trained_dncnn, eps=3 / 255, alpha=3 / 255, steps=1, random_start=False)
    assert torch.equal(fgsm, pgd(noisy, clean))


def test_fgsm_needs_clean_image(trained_dncnn, noisy_pair):
    with pytest.raises(ValueError, match="DenoiseFGSM has no random start"):
        DenoiseFGSM(trained_dncnn)(noisy_pair[0])


def test_fgsm_zero_budget_returns_input(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    assert torch.equal(DenoiseFGSM(trained_dncnn, eps=0.0)(noisy, clean), noisy)
