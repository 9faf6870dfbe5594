"""Every model of the zoo: shapes, gradients, checkpoints, and the published configurations."""

import pytest
import torch

from denoise_adv.models import (
    DnCNN,
    FFDNet,
    PnPDenoiser,
    SwinDenoiser,
    UNetRes,
    UnfoldingDenoiser,
    as_denoiser,
    as_prior,
    build,
    load_checkpoint,
    save_checkpoint,
)

TINY = {
    "dncnn": dict(depth=3, features=4),
    "ffdnet": dict(depth=3, features=4),
    "drunet": dict(features=(4, 4, 8, 8), blocks=1),
    "swinir": dict(dim=8, depths=(2,), heads=2, window=4),
    "unfolding": dict(stages=2, features=4, depth=3),
}


def _tiny(name, channels=1):
    torch.manual_seed(0)
    return as_denoiser(build(name, channels=channels, **TINY[name]), 25 / 255)


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (13, 19)])
def test_forward_shapes_gray_colour_odd(name, channels, size):
    model = _tiny(name, channels).eval()
    x = torch.rand(2, channels, *size)
    assert model(x).shape == x.shape


@pytest.mark.parametrize("name", list(TINY))
def test_gradients_flow(name):
    model = _tiny(name)
    x = torch.rand(2, 1, 12, 12, requires_grad=True)
    model(x).square().mean().backward()
    assert x.grad.abs().sum() > 0
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


@pytest.mark.parametrize("name", list(TINY))
def test_checkpoint_round_trip_every_model(name, tmp_path):
    torch.manual_seed(0)
    model = build(name, channels=3, **TINY[name]).eval()
    save_checkpoint(model, tmp_path / "m.pt")
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(as_denoiser(loaded, 0.1)(x),
                                   as_denoiser(model, 0.1)(x))


@pytest.mark.parametrize("name", [pytest.param("ffdnet", marks=pytest.mark.slow),
                                  pytest.param("swinir", marks=pytest.mark.slow),
                                  pytest.param("unfolding", marks=pytest.mark.slow)])
def test_gradcheck_float64(name):
    model = _tiny(name).double().eval()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,), atol=1e-5)


def test_published_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(DnCNN()) == 556_096  # DnCNN-S (Zhang et al. 2017)
    assert count(UNetRes()) == 32_638_656  # DRUNet gray, as DPIR reports it


def test_noise_level_is_used_per_image():
    torch.manual_seed(0)
    model = FFDNet(depth=3, features=4).eval()
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        per_image = model(x, torch.tensor([0.0, 0.2]))
        torch.testing.assert_close(per_image[0], model(x[:1], 0.0)[0])
        torch.testing.assert_close(per_image[1], model(x[1:], 0.2)[0])
        assert not torch.allclose(model(x, 0.0), model(x, 0.2))
    with pytest.raises(ValueError, match="one value per image"):
        model(x, torch.ones(3))


def test_unfolding_with_zero_proximal_maps_returns_input():
    model = UnfoldingDenoiser(stages=3, features=4, depth=3)
    for p in model.prox.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 1, 6, 6)
    torch.testing.assert_close(model(x), x)


class _Scale(torch.nn.Module):
    def forward(self, x, sigma):
        return 0.5 * x + sigma


def test_pnp_is_half_quadratic_splitting():
    y = torch.rand(1, 1, 4, 4, dtype=torch.float64)
    pnp = PnPDenoiser(_Scale(), sigma=0.1, iterations=4, sigma_max=0.4, lam=0.3)
    sigmas = pnp.sigmas()
    assert sigmas[0] == pytest.approx(0.4) and sigmas[-1] == pytest.approx(0.1)
    assert sigmas[1] / sigmas[0] == pytest.approx(sigmas[2] / sigmas[1])
    z = y
    for s in sigmas:
        rho = 0.3 * 0.1**2 / s**2
        z = 0.5 * (y + rho * z) / (1 + rho) + s
    torch.testing.assert_close(pnp(y), z)
    identity = PnPDenoiser(as_prior(torch.nn.Identity()), sigma=0.1)
    torch.testing.assert_close(identity(y), y)  # an identity prior keeps the data


def test_pnp_around_a_drunet_prior_and_bad_arguments():
    prior = build("drunet", **TINY["drunet"])
    assert PnPDenoiser(prior, sigma=25 / 255, iterations=2)(torch.rand(1, 1, 9, 9)).shape == (
        1, 1, 9, 9)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        PnPDenoiser(prior, sigma=0.0)
    with pytest.raises(TypeError, match="prior must be a torch.nn.Module"):
        PnPDenoiser(lambda x: x, sigma=0.1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dim \\(10\\) must be divisible by heads \\(3\\)"):
        SwinDenoiser(dim=10, heads=3)
    with pytest.raises(ValueError, match="window must be >= 2"):
        SwinDenoiser(window=1)
    with pytest.raises(ValueError, match="features must have 4 entries"):
        UNetRes(features=(4, 4))
    with pytest.raises(ValueError, match="noisy must have 1 channel"):
        _tiny("swinir")(torch.rand(1, 3, 8, 8))
