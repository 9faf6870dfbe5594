import pytest
import torch
from torch import nn

from denoise_adv import DenoisePGD, as_denoiser
from denoise_adv.models import DenoiserAdapter


class SigmaScaled(nn.Module):
    """model(y, sigma) -> y * (1 - sigma): a noise-level-conditioned toy denoiser."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, y, sigma):
        return self.w * y * (1 - sigma)


class NoisePredictor(nn.Module):
    def forward(self, y):
        return 0.25 * y


def test_plain_denoiser_is_returned_unchanged():
    model = nn.Identity()
    assert as_denoiser(model) is model


def test_sigma_is_fixed_by_the_wrapper():
    f = as_denoiser(SigmaScaled(), sigma=0.2)
    y = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(f(y), 0.8 * y)
    assert isinstance(f, DenoiserAdapter) and list(f.parameters())  # parameters pass through


def test_sigma_tensor_moves_with_the_module():
    f = as_denoiser(SigmaScaled(), sigma=torch.full((1, 1, 1, 1), 0.5))
    assert "sigma" in dict(f.named_buffers())
    torch.testing.assert_close(f.double()(torch.ones(1, 1, 2, 2, dtype=torch.float64)),
                               torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64))


def test_residual_predictor_returns_clean_estimate():
    y = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(as_denoiser(NoisePredictor(), residual=True)(y), 0.75 * y)


def test_attacks_work_through_the_adapter():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 1, 6, 6, generator=g, dtype=torch.float64)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    f = as_denoiser(SigmaScaled().double(), sigma=0.2)  # f(y) = 0.8 y: closed form applies
    delta = DenoisePGD(f, eps=0.01, alpha=0.01, steps=2, random_start=False)(noisy, clean) - noisy
    torch.testing.assert_close(delta, 0.01 * torch.sign(0.8 * (0.8 * noisy - clean)))


def test_train_eval_pass_through():
    inner = nn.BatchNorm2d(1)
    f = as_denoiser(inner, residual=True)
    f.eval()
    assert not inner.training


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        as_denoiser(lambda y: y, residual=True)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        as_denoiser(nn.Identity(), sigma=-1.0)
    with pytest.raises(ValueError, match="sigma must be finite"):
        as_denoiser(nn.Identity(), sigma=torch.tensor(float("nan")))


def test_as_prior_of_a_model_with_a_default_level_needs_no_sigma():
    """Issue 33: a non-blind model called without a level uses its own default (FFDNet's
    25/255), as deepinv's denoisers do; one without a default still refuses."""
    from denoise_adv.models import FFDNet, as_prior

    model = FFDNet(depth=3, features=4).eval()
    x = torch.rand(1, 1, 12, 12)
    with pytest.raises(ValueError, match="sigma"):
        as_prior(model)(x)
    model.sigma = 25 / 255
    torch.testing.assert_close(as_prior(model)(x), model(x, 25 / 255))
    assert not torch.allclose(as_prior(model)(x, 0.2), model(x, 25 / 255))
