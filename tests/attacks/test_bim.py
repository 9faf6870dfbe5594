import pytest
import torch

from denoise_adv import DenoiseBIM, DenoisePGD


def test_bim_is_pgd_started_at_zero(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    bim = DenoiseBIM(trained_dncnn, eps=2 / 255, alpha=0.5 / 255, steps=6)(noisy, clean)
    pgd = DenoisePGD(trained_dncnn, eps=2 / 255, alpha=0.5 / 255, steps=6, random_start=False)
    assert torch.equal(bim, pgd(noisy, clean))
    assert (bim - noisy).abs().max() <= 2 / 255 + 1e-7


def test_bim_is_deterministic_without_seed(trained_dncnn, noisy_pair):
    noisy, clean = noisy_pair
    atk = DenoiseBIM(trained_dncnn, steps=3)
    assert torch.equal(atk(noisy, clean), atk(noisy, clean))


def test_bim_needs_clean_image(trained_dncnn, noisy_pair):
    with pytest.raises(ValueError, match="DenoiseBIM has no random start"):
        DenoiseBIM(trained_dncnn)(noisy_pair[0])
